"""Ranges and scores between numbers, and a word joined to a number by a hyphen.

    "10-20 people"        -> "ten to twenty people"
    "won 3-2"             -> "won three to two"
    "$10-$20"             -> "ten dollars to twenty dollars"
    "between 300-5000"    -> "between three hundred and five thousand"
    "COVID-19"            -> "COVID nineteen"
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.normalize.context import AMOUNT, DASH, word_before
from kokoro_server.text.spans import Rewriter


_WORD_DASH_NUMBER = re.compile(r"(?<=[A-Za-z])-(?=\d)")  # "COVID-19" -> "COVID 19"
_RANGE = re.compile(r"(?<![\w.,:/-])([$£€¥₹]?" + AMOUNT + r"(?:\.\d{1,9})?%?)" + DASH +
                    r"(?=[$£€¥₹]?" + AMOUNT + r"(?:\.\d{1,9})?(?![\d:/-]|[.,]\d))")


def word_dash_number(rw: Rewriter) -> None:
    rw.sub(_WORD_DASH_NUMBER, " ")


def rewrite(rw: Rewriter) -> None:
    rw.sub(_RANGE, lambda m: [(m.end(1), m.end(), " and " if word_before(m.string, m.start()).lower() == "between"
                                                 else " to ")])
