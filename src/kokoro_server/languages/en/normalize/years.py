"""Years, year ranges, decades and fiscal years: a four-digit number is a year only in a year's context.

    "In 1984 it rained."     -> "In nineteen eighty-four it rained."
    "By 2005 it was done."   -> "By two thousand five it was done."
    "the 1914–18 war"        -> "the nineteen fourteen to eighteen war"
    "The 1990s"              -> "The nineteen nineties"
    "FY2023", "Q4 2023"      -> "FY twenty twenty-three", "Q four twenty twenty-three"
    "1914 people came"       -> "one thousand nine hundred and fourteen people came" (a count)

Before a proper noun or an event, a four-digit number names the year of the event::

    "The 2020 Olympics"      -> "The twenty twenty Olympics"
    "the 2016 Rio Games"     -> "the twenty sixteen Rio Games"
    "the 2000 election"      -> "the two thousand election"
    "(2023 est.)"            -> "(twenty twenty-three estimated)"
    "a 2019 study"           -> "a twenty nineteen study" (a singular noun: no count)
    "2020 was hard"          -> "twenty twenty was hard" (a singular verb: one thing)
    "2000 Americans"         -> "two thousand Americans" (a plural: a count)

and after a name: "at Expo 2020" -> "at Expo twenty twenty", "Flight 1549 landed" -> "Flight fifteen
forty-nine landed" (but "paid Bob 2020 dollars": a plural noun after it makes it a count; "Over 2000").

The year words and event nouns are the table ``years.json``.
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.normalize.context import DASH, MONTHS, YEAR, word_after, word_before
from kokoro_server.languages.en.normalize.tables import UNITS, YEARS
from kokoro_server.languages.en.numbers import cardinal, decade, year
from kokoro_server.text.spans import Rewriter


_YEAR_RANGE = re.compile(r"(?<![\w.,$£€¥₹-])(" + YEAR + r")" + DASH + r"(" + YEAR + r"|\d\d)(?![\w-]|[.,]\d|%)")


def _year_range(match: re.Match[str], british: bool) -> str:
    first, second = match.group(1), match.group(2)
    if len(second) == 2:
        return f"{year(int(first))} to {cardinal(int(second)) if second[0] != '0' else 'oh ' + cardinal(int(second))}"
    return f"{year(int(first), british)} to {year(int(second), british)}"


_DECADE = re.compile(r"(?<![\w.,$£€¥₹])(?:(1[1-9]\d0|20\d0)|'([0-9]0)|([1-9]0))'?s(?!\w)")

# a four-digit number is a year after these words (or a month, or before AD/BC), else a count
_YEAR_WORDS = frozenset(YEARS["year_words"]) | {m.lower() for m in MONTHS}
_EVENT_NOUNS = frozenset(YEARS["event_nouns"])
_NAME_AFTER = re.compile(r"[ \t]{1,2}([A-Za-z][A-Za-z'.-]{0,24})")
_NAME_BEFORE = re.compile(r"(^|[^\w])([A-Za-z][A-Za-z'-]{0,24})[ \t]{1,2}$")
_WORDS_AFTER = re.compile(r"[ \t]{1,2}([a-zA-Z][a-z'-]{0,24}(?:[ \t][a-zA-Z][a-z'-]{0,24}){0,2})")
_COUNTED_WORDS = frozenset(YEARS["counted_words"])
_SINGULAR_VERBS = frozenset(YEARS["singular_verbs"])
_UNIT_WORDS = frozenset(UNITS) | frozenset("percent per cent times x".split())
_NOT_NAMES = frozenset("I Over Under About Around Nearly Almost Some Only Just More Less Than Total Exactly Roughly "
                       "Approximately Precisely Another Additional Every Each Maybe Perhaps Plus Minus Times "
                       "Sold Bought Paid Add Count Number Numbers".split())
_QUARTER_BEFORE = re.compile(r"(?:^|\W)(?:Q[1-4]|H[12])[ \t]$")  # "Q4 2023", "H1 2025"
_PERIOD_YEAR = re.compile(r"\b(FY|CY)(1\d{3}|20\d\d)(?![\w]|[.,]\d)")  # "FY2023"
_WEAK_YEAR_WORDS = frozenset("of from to and or through between".split())
_FIRST_YEAR_WORDS = frozenset(("of", "from", "between"))
_FUNCTION_WORDS = frozenset("and or but to the a an in on at with as for after before until when while was were "
                            "is are had has have he she they we i it you his her their its our this that there "
                            "then so if by from of during saw".split())
_FOUR_DIGITS = re.compile(r"(?<![\w.,$£€¥₹#'+-])(?:(AD|A\.D\.|CE)[ \t]{1,2})?(" + YEAR + r")(?![\w°%]|[.,:]\d)"
                          r"(?:[ \t]{1,2}(AD|BC|BCE|CE|A\.D\.|B\.C\.))?")


class _Years:
    """Reads each four-digit number as a year or as a count, from the words around it."""

    def __init__(self, british: bool) -> None:
        self.british = british
        self.last_year_end = -100

    def __call__(self, match: re.Match[str]) -> str:
        text = match.string
        era_before, number, era_after = match.group(1), int(match.group(2)), match.group(3)
        before = word_before(text, match.start()).lower().rstrip(".")
        after = word_after(text, match.end())
        is_year = bool(era_before or era_after) or before in _YEAR_WORDS or before in ("fy", "cy") \
            or bool(_QUARTER_BEFORE.search(text[max(0, match.start() - 5):match.start()]))
        if not is_year and before in _WEAK_YEAR_WORDS:
            after_word = after.lower()
            is_year = (before in _FIRST_YEAR_WORDS or match.start() - self.last_year_end < 16) and (
                not after_word or not after[:1].islower() or after_word in _FUNCTION_WORDS)
        if not is_year and not era_after:
            is_year = self._names_an_event(text, match.end()) or self._follows_a_name(text, match)
        if not is_year:
            return match.group(0)
        self.last_year_end = match.end()
        spoken = year(number, self.british)
        era = (era_before or era_after or "").replace(".", "")
        if era_before:
            return f"{era} {spoken}"
        return f"{spoken} {era}" if era else spoken


    @staticmethod
    def _follows_a_name(text: str, match: re.Match[str]) -> bool:
        """"Expo 2020", "Flight 1549", "(est. 2023)": after a name (or an estimate in brackets), unless a
        plural noun follows ("paid Bob 2020 dollars") or the word is a quantity's ("Over 2000")."""
        name = _NAME_BEFORE.search(text, max(0, match.start() - 40), match.start())
        if name is None:
            return False
        word = name.group(2)
        if word.lower() == "estimated" and text[match.end():match.end() + 1] in ",)":
            return True  # "(est. 2023)", its brackets already read as an aside: ", estimated 2023,"
        if not word[:1].isupper() or word.lower() in _FUNCTION_WORDS or word in _NOT_NAMES:
            return False
        after = _NAME_AFTER.match(text, match.end(), match.end() + 28)
        return after is None or not (after.group(1).islower() and _plural(after.group(1)))

    @staticmethod
    def _names_an_event(text: str, end: int) -> bool:
        """An event noun after the number, or a singular proper noun ("Olympics" is both; "Americans"
        is a plural: a count)."""
        name = _NAME_AFTER.match(text, end, end + 28)
        if name is None:
            return False
        word = name.group(1).rstrip(".").removesuffix("'s")
        if word.lower() in _EVENT_NOUNS:
            return True
        if word.islower():
            return _singular_noun(text, end)
        if not word[:1].isupper() or word == "I" or word.isupper() or _plural(word):
            return False
        counted = _NAME_AFTER.match(text, name.end(), name.end() + 28)  # "1500 Apple shares": a count
        return counted is None or not (counted.group(1).islower() and _plural(counted.group(1)))


def _singular_noun(text: str, end: int) -> bool:
    """A count takes a plural ("1914 workers", "2000 American soldiers", "1500 people"); a singular noun
    after the number makes it a year or a name ("a 2019 study", "the 2008 financial crisis"). Units
    ("2023 kg") and words that start no noun phrase ("2020 was") say nothing."""
    words = _WORDS_AFTER.match(text, end, end + 60)
    if words is None:
        return False
    following = words.group(1).split()
    first = following[0].lower()
    if first in _SINGULAR_VERBS:
        return True  # "2020 was hard": one thing, a year (a count takes "were")
    if first in _FUNCTION_WORDS or first in _UNIT_WORDS or " ".join(following[:2]).lower() in _UNIT_WORDS:
        return False
    for word in following:
        if word.lower() in _FUNCTION_WORDS:
            break
        if _plural(word) or word.lower() in _COUNTED_WORDS or not word.islower():
            return False
    return True


def _plural(word: str) -> bool:
    return word.endswith("s") and not word.endswith(("ss", "us", "is"))


def year_ranges(rw: Rewriter, british: bool) -> None:
    rw.sub(_YEAR_RANGE, lambda m: _year_range(m, british))


def decades(rw: Rewriter, british: bool) -> None:
    rw.sub(_DECADE, lambda m: decade(int(m.group(1) or m.group(2) or m.group(3)), british))


def years(rw: Rewriter, british: bool) -> None:
    rw.sub(_PERIOD_YEAR, lambda m: f"{m.group(1)} {year(int(m.group(2)), british)}")
    rw.sub(_FOUR_DIGITS, _Years(british))
