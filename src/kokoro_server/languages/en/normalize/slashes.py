"""Words joined by a slash: "and/or", "he/she", "w/", "w/o", and two words with a slash between.

    "and/or"                -> "and or"
    "he/she"                -> "he or she"
    "w/ sugar, w/o milk"    -> "with sugar, without milk"
    "input/output"          -> "input output"

Abbreviations written with a slash (the table ``abbreviations.json``, ``slashed``)::

    "a 5 y/o boy"           -> "a five year old boy"
    "He is 7 y/o."          -> "He is seven years old."
    "c/o the manager"       -> "care of the manager"
    "b/c it rained"         -> "because it rained"
    "N/A"                   -> "not applicable"
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.normalize.context import word_after
from kokoro_server.languages.en.normalize.tables import ABBREVIATIONS
from kokoro_server.text.spans import Rewriter

_SLASHED: dict[str, str] = ABBREVIATIONS["slashed"]
_SLASHED_WORD = re.compile(r"(?<![\w/])(" + "|".join(re.escape(a) for a in sorted(_SLASHED, key=len, reverse=True))
                           + r")(?![\w/])", re.IGNORECASE)
_ONE_BEFORE = re.compile(r"(?:^|\W)(?:1|one)[ \t-]{0,2}$")


def _slashed(match: re.Match[str]) -> str:
    key = match.group(1).lower()
    if key != "y/o":
        return _SLASHED[key]
    text, start = match.string, match.start()
    if word_after(text, match.end()) or _ONE_BEFORE.search(text, max(0, start - 6), start):
        return "year old"  # "a 5 y/o boy", "a 1 y/o"
    return "years old"  # "he is 5 y/o."


_OR_PAIRS = re.compile(r"\b(and|he|she|him|her|his|hers|s|yes|true|on)/(or|she|he|her|him|his|hers|they|them|no|"
                       r"false|off)\b", re.IGNORECASE)
_WITH = re.compile(r"(?<![\w/])[wW]/(o\b)?(?=[ \t]|$)")
_WORD_SLASH = re.compile(r"(?<=[A-Za-z])/(?=[A-Za-z])")


def pairs(rw: Rewriter) -> None:
    rw.sub(_SLASHED_WORD, _slashed)
    rw.sub(_OR_PAIRS, lambda m: f"{m.group(1)} or {m.group(2)}" if m.group(1).lower() != "and"
           else f"{m.group(1)} {m.group(2)}")
    rw.sub(_WITH, lambda m: "without" if m.group(1) else "with")


def words(rw: Rewriter) -> None:
    rw.sub(_WORD_SLASH, " ")
