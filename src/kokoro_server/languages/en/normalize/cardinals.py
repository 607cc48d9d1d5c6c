"""Cardinal numbers, minus signs, percentages and ordinals: what is left of the numbers once the
classes that read them in context (years, dates, money, ...) have run.

    "It was -5 outside"  -> "It was minus five outside"
    "Up 2.5 % today"     -> "Up two point five percent today"
    "1,234 people"       -> "one thousand two hundred and thirty-four people"
    "the 21st century"   -> "the twenty-first century"
    "MP3 and 5G"         -> "MP three and five G"
    "Code 12345678901234567890" -> digit by digit (16 digits or more)
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.normalize.context import AMOUNT, GROUPED
from kokoro_server.languages.en.numbers import digits, number_words, ordinal
from kokoro_server.text.spans import Rewriter


_SIGN = re.compile(r"(?<![\w.,)\]%-])[-\u2212](?=[$£€¥₹]?\d)")
_PERCENT = re.compile(r"(?<![\d.])(" + AMOUNT + r"(?:\.\d{1,10})?)[ \t]?%")
_ORDINAL = re.compile(r"(?<![\d.])(" + AMOUNT + r")(st|nd|rd|th)\b", re.IGNORECASE)
_LONG_DIGITS = re.compile(r"\d{16,}")
_NUMBER = re.compile(r"(?<![\d.,])(" + GROUPED + r"|\d{1,400})(\.\d{1,400})?(?![\d])(?=([^\W\d_])?)")


def _number(match: re.Match[str]) -> str:
    spoken = number_words(match.group(1) + (match.group(2) or ""))
    glued = " " if match.group(3) else ""  # "5G" -> "five G"
    after_letter = " " if match.start() and match.string[match.start() - 1].isalpha() else ""  # "MP3"
    return after_letter + spoken + glued


def signs(rw: Rewriter) -> None:
    rw.sub(_SIGN, "minus ")


def percents(rw: Rewriter) -> None:
    rw.sub(_PERCENT, lambda m: f"{number_words(m.group(1))} percent")


def ordinals(rw: Rewriter) -> None:
    rw.sub(_ORDINAL, lambda m: ordinal(int(m.group(1).replace(",", ""))))


def rewrite(rw: Rewriter) -> None:
    rw.sub(_LONG_DIGITS, lambda m: " " + digits(m.group(0)) + " ")
    rw.sub(_NUMBER, _number)
