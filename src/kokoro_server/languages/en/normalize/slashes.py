"""Words joined by a slash: "and/or", "he/she", "w/", "w/o", and two words with a slash between.

    "and/or"                -> "and or"
    "he/she"                -> "he or she"
    "w/ sugar, w/o milk"    -> "with sugar, without milk"
    "input/output"          -> "input output"
"""

from __future__ import annotations

import re

from kokoro_server.text.spans import Rewriter


_OR_PAIRS = re.compile(r"\b(and|he|she|him|her|his|hers|s|yes|true|on)/(or|she|he|her|him|his|hers|they|them|no|"
                       r"false|off)\b", re.IGNORECASE)
_WITH = re.compile(r"(?<![\w/])[wW]/(o\b)?(?=[ \t]|$)")
_WORD_SLASH = re.compile(r"(?<=[A-Za-z])/(?=[A-Za-z])")


def pairs(rw: Rewriter) -> None:
    rw.sub(_OR_PAIRS, lambda m: f"{m.group(1)} or {m.group(2)}" if m.group(1).lower() != "and"
           else f"{m.group(1)} {m.group(2)}")
    rw.sub(_WITH, lambda m: "without" if m.group(1) else "with")


def words(rw: Rewriter) -> None:
    rw.sub(_WORD_SLASH, " ")
