"""Words joined by a slash: "and/or", "he/she", "w/", "w/o", and two words with a slash between.

    "and/or"                -> "and or"
    "he/she"                -> "he or she"
    "w/ sugar, w/o milk"    -> "with sugar, without milk"
    "input/output"          -> "input output"

Abbreviations written with a slash (the table ``abbreviations.json``, ``slashed``)::

    "a 5 y/o boy"           -> "a five year old boy"
    "He is 7 y/o."          -> "He is seven years old."
    "a 5yo", "7 y.o."       -> "a five year old", "seven years old"
    "c/o the manager"       -> "care of the manager"
    "b/c it rained"         -> "because it rained"
    "N/A"                   -> "not applicable"
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.normalize.context import sentence_ends, word_after
from kokoro_server.languages.en.normalize.tables import ABBREVIATIONS
from kokoro_server.text.spans import Rewriter

_SLASHED: dict[str, str] = ABBREVIATIONS["slashed"]
_SLASHED_WORD = re.compile(r"(?<![\w/])(" + "|".join(re.escape(a) for a in sorted(_SLASHED, key=len, reverse=True))
                           + r")(?![\w/])", re.IGNORECASE)
_YEARS_OLD = re.compile(r"(?<=\d)[ \t]?(?:yo|y\.o\.|yrs?\.? old)(?![\w/])", re.IGNORECASE)  # "a 5yo", "7 y.o."
_ONE_BEFORE = re.compile(r"(?:^|\W)(?:1|one)[ \t-]{0,2}$")
_ARTICLE_BEFORE = re.compile(r"(?:^|\W)(?:a|an|A|An)[ \t]{1,2}\d{1,3}[ \t-]{0,2}$")


def _slashed(match: re.Match[str]) -> str:
    key = match.group(1).lower()
    if key != "y/o":
        return _SLASHED[key]
    return _years_old(match)


def _years_old(match: re.Match[str]) -> str:
    """"year old" before a noun or after an article ("a 5 y/o boy", "a 3 yr old"), "years old" after a
    verb ("he is 7 y.o."); a period of the abbreviation that also ends the sentence stays."""
    text, start, end = match.string, match.start(), match.end()
    ends = match.group(0).endswith(".") and sentence_ends(text, end)
    attributive = not ends and word_after(text, end) and text[end:end + 1] in " \t" or _ONE_BEFORE.search(
        text, max(0, start - 6), start) or _ARTICLE_BEFORE.search(text, max(0, start - 24), start)
    return ("year old" if attributive else "years old") + ("." if ends else "")


_OR_PAIRS = re.compile(r"\b(and|he|she|him|her|his|hers|s|yes|true|on)/(or|she|he|her|him|his|hers|they|them|no|"
                       r"false|off)\b", re.IGNORECASE)
_WITH = re.compile(r"(?<![\w/])[wW]/(o\b)?(?=[ \t]|$)")
_WORD_SLASH = re.compile(r"(?<=[A-Za-z])/(?=[A-Za-z])")


def pairs(rw: Rewriter) -> None:
    rw.sub(_SLASHED_WORD, _slashed)
    rw.sub(_YEARS_OLD, lambda m: " " + _years_old(m))
    rw.sub(_OR_PAIRS, lambda m: f"{m.group(1)} or {m.group(2)}" if m.group(1).lower() != "and"
           else f"{m.group(1)} {m.group(2)}")
    rw.sub(_WITH, lambda m: "without" if m.group(1) else "with")


def words(rw: Rewriter) -> None:
    rw.sub(_WORD_SLASH, " ")
