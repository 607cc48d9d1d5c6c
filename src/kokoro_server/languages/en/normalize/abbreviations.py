"""Abbreviations: expanded, and their periods never end a sentence; initialisms and initials keep
their letters but lose the period that would end a sentence.

    "Dr. Smith and Mr. Jones"   -> "Doctor Smith and Mister Jones"
    "He lives on Elm Dr. now."  -> "He lives on Elm Drive now."
    "Tue., Mar. 5"              -> "Tuesday, March fifth" (with the date rules)
    "apples vs. oranges"        -> "apples versus oranges"
    "Fig. 3", "ca. 1500"        -> "Figure three", "circa fifteen hundred"
    "the U.S. army"             -> "the U.S army"
    "I met Jan. Then I left."   -> unchanged ("Jan" is a name here)

Before a closing bracket an abbreviation is always one (and its period ends no sentence)::

    "(2023 est.)"               -> "(2023 estimated)"  (and "(est. 2023)"; but "Est. 1892" -> "established 1892")
    "He left (Jan.) early"      -> "He left (January) early"
    "(see Smith et al.)"        -> "(see Smith et al)"
    "in 1990 (approx.)."        -> "in 1990 (approximately)."

The abbreviations are the table ``abbreviations.json``.
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.normalize.context import MONTHS, sentence_ends, word_after, word_before
from kokoro_server.languages.en.normalize.tables import ABBREVIATIONS
from kokoro_server.text.spans import Edit, Rewriter


_TITLES: dict[str, str] = ABBREVIATIONS["titles"]  # before a name; never end a sentence
_SUFFIXES: dict[str, str] = ABBREVIATIONS["suffixes"]  # may end a sentence: the period stays then
_INLINE: dict[str, str] = ABBREVIATIONS["inline"]  # read through, never end a sentence
_BEFORE_NUMBER: dict[str, str] = ABBREVIATIONS["before_number"]  # only before a number: "Fig. 3", "ca. 1500"
_DAYS: dict[str, str] = ABBREVIATIONS["days"]
_MONTH_ABBREVIATIONS: dict[str, str] = ABBREVIATIONS["months"]
_AMBIGUOUS: dict[str, list[str]] = ABBREVIATIONS["ambiguous"]  # [before a name, after it]: "Dr. Who", "Elm Dr."
_ESTIMATES: dict[str, list[str]] = ABBREVIATIONS["estimates"]  # [before a year, else]: "Est. 1892", "2023 est."
_ALL_ABBREVIATIONS = (*_TITLES, *_SUFFIXES, *_INLINE, *_BEFORE_NUMBER, *_DAYS, *_MONTH_ABBREVIATIONS,
                      *_AMBIGUOUS, *_ESTIMATES)
_CLOSING = ")]}"
_YEAR_AHEAD = re.compile(r"[ \t]{1,2}(?:1\d{3}|20\d\d)(?!\d)")
_ABBREVIATION = re.compile(
    r"(?<![\w.])(" + "|".join(sorted((re.escape(a) for a in _ALL_ABBREVIATIONS), key=len, reverse=True))
    + r")\.(?![\w.])")
_DAY_OR_MONTH = re.compile(r"[\s,]{1,3}(?:\d|(?:" + "|".join((*MONTHS, *_MONTH_ABBREVIATIONS)) + r")\b)")
_NUMBER_AHEAD = re.compile(r"[ \t]{0,2}#?(?:\d|[IVXLC]{1,6}\b)")


def _abbreviation(match: re.Match[str]) -> str:
    text, word, end = match.string, match.group(1), match.end()
    capital_next = text[end:end + 1] in (" ", "\t", "\n") and word_after(text, end)[:1].isupper()
    closed = text[end:end + 1] in _CLOSING  # "(Jan.)": an abbreviation whatever follows, never a sentence's end
    if word in _ESTIMATES:
        established, estimated = _ESTIMATES[word]
        bracketed = text[max(0, match.start() - 1):match.start()] == "("  # "(est. 2023)": an estimate's year
        spoken = established if _YEAR_AHEAD.match(text, end) and not bracketed else estimated
        return spoken + ("." if not closed and sentence_ends(text, end) else "")
    if closed:
        for table in (_BEFORE_NUMBER, _DAYS, _MONTH_ABBREVIATIONS):
            if word in table:
                return table[word]
    if word in _TITLES:
        return _TITLES[word]
    if word in _INLINE:
        return _INLINE[word]
    if word in _BEFORE_NUMBER:
        return _BEFORE_NUMBER[word] if _NUMBER_AHEAD.match(text, end) else match.group(0)
    if word in _DAYS:
        return _DAYS[word] if word not in ("Sat", "Sun") or _DAY_OR_MONTH.match(text, end) else match.group(0)
    if word in _MONTH_ABBREVIATIONS:
        before = text[max(0, match.start() - 12):match.start()].rstrip(" ,")
        near_date = _NUMBER_AHEAD.match(text, end) or before[-1:].isdigit() or before.rstrip(".").endswith(
            tuple(_DAYS) + tuple(_DAYS.values()))
        return _MONTH_ABBREVIATIONS[word] if near_date else match.group(0)
    if word in _AMBIGUOUS:  # "Dr. Who", "St. Louis" / "Elm Dr.", "Main St."
        person, place = _AMBIGUOUS[word]
        if capital_next and not sentence_ends(text, end) or not word_before(text, match.start())[:1].isupper():
            return person
        return place + ("." if sentence_ends(text, end) else "")
    return _SUFFIXES[word] + ("." if sentence_ends(text, end) else "")


# "U.S." -> "U.S" (misaki reads it the same) so that its last period ends no sentence
_INITIALISM = re.compile(r"(?<![\w.])(?:[A-Za-z]\.){1,5}[A-Za-z]\.(?![\w.])")
# "John F. Kennedy", "J. K. Rowling": an initial's period ends no sentence
_INITIAL = re.compile(r"(?<![\w.])[A-Z]\.(?=[ \t]{1,3}[A-Z])")
_CAPITALIZED_BEFORE = re.compile(r"(?:[A-Z][a-z]{1,20}|[A-Z]\.?)[ \t]{1,3}$")


def _initialism(match: re.Match[str]) -> list[Edit]:
    if sentence_ends(match.string, match.end()):
        return []
    return [(match.end() - 1, match.end(), "")]


def _initial(match: re.Match[str]) -> list[Edit]:
    text, start = match.string, match.start()
    after = text[match.end():match.end() + 6].lstrip()
    if _CAPITALIZED_BEFORE.search(text, max(0, start - 24), start) or re.match(r"[A-Z]\.", after):
        return [(match.end() - 1, match.end(), "")]
    return []


def rewrite(rw: Rewriter) -> None:
    rw.sub(_ABBREVIATION, _abbreviation)
    rw.sub(_INITIALISM, _initialism)
    rw.sub(_INITIAL, _initial)
