"""Dates: numeric (ISO, US month/day/year, dotted day.month.year) and with month names.

    "Born 2024-01-03."   -> "Born January third, twenty twenty-four."  (British: "the third of January, ...")
    "Due 12/25/1999."    -> "Due December twenty-fifth, nineteen ninety-nine."
    "on 12/25/99"        -> "on December twenty-fifth, ninety-nine"
    "May 5, 2024"        -> "May fifth, twenty twenty-four"
    "5 March 2024"       -> "the fifth of March, twenty twenty-four"
    "on the 5th of May"  -> "on the fifth of May"

A month and day without a year are a date after a word that introduces one (British: day first)::

    "on 7/4"             -> "on July fourth"  (British: "on the seventh of April")
    "due by 3/15."       -> "due by March fifteenth."
    "Friday 12/25"       -> "Friday December twenty-fifth"
    "open Mon-Fri"       -> "open Monday to Friday"
    "1/2 cup", "rated 8/10", "on 1/2 of the days" -> left to the fraction rules
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.normalize.context import MONTH_NAMES, MONTHS, word_after, word_before
from kokoro_server.languages.en.numbers import cardinal, ordinal, year
from kokoro_server.text.spans import Rewriter


_ISO_DATE = re.compile(r"(?<![\d-])(\d{4})-(\d{2})-(\d{2})(?![\d-])")
_US_DATE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{4})(?![\d/])")
_US_SHORT_YEAR = re.compile(r"(?<![\d/.,])(\d{1,2})/(\d{1,2})/(\d{2})(?![\d/%]|[.,]\d)")  # "12/25/99"
_MONTH_DAY = re.compile(r"\b(" + MONTH_NAMES + r")[ \t]{1,3}(\d{1,2})(?:st|nd|rd|th)?(?![\d:.,%]\d|[\w%])"
                        r"(?:(,?[ \t]{1,3})(\d{4})(?![\w%]|[.,]\d))?")
_DAY_MONTH = re.compile(r"(?<![\w.,])(\d{1,2})(?:st|nd|rd|th)?[ \t]{1,3}(?:of[ \t]{1,3})?(" + MONTH_NAMES + r")\b"
                        r"(?:(,?[ \t]{1,3})(\d{4})(?![\w%]|[.,]\d))?")


_SHORT_DATE = re.compile(r"(?<![\w/.,-])(\d{1,2})/(\d{1,2})(?![\w/%°]|[.,]\d)")
_DATE_WORDS = frozenset(
    "on by since until till til before after due dated effective starting ending through thru expires expired "
    "expiring deadline monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs "
    "fri sat sun today tomorrow tonight".split())
_WEEKDAYS = {"mon": "Monday", "tue": "Tuesday", "tues": "Tuesday", "wed": "Wednesday", "thu": "Thursday",
             "thur": "Thursday", "thurs": "Thursday", "fri": "Friday", "sat": "Saturday", "sun": "Sunday"}
_DAY_RANGE = re.compile(r"\b(Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)\.?[ \t]?[-\u2013][ \t]?"
                        r"(Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)\b\.?", re.IGNORECASE)  # "Mon-Fri"
_DAYS_IN = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_EVENTS = {(9, 11), (7, 11)}  # "on 9/11": "nine eleven", as the fraction rules read it
_NOT_AFTER_DATE = frozenset(
    "of cup cups teaspoon teaspoons tablespoon tablespoons tsp tbsp inch inches in mile miles hour hours pound pounds "
    "lb lbs oz ounce ounces share shares majority chance point points time times way".split())


def _short_date(match: re.Match[str], british: bool) -> str:
    text = match.string
    first, second = int(match.group(1)), int(match.group(2))
    month, day = (second, first) if british else (first, second)
    before = word_before(text, match.start()).lower().rstrip(".")
    if before not in _DATE_WORDS or word_after(text, match.end()).lower() in _NOT_AFTER_DATE:
        return match.group(0)
    if not (1 <= month <= 12 and 1 <= day <= _DAYS_IN[month - 1]) or (first, second) in _EVENTS:
        return match.group(0)
    if british:
        return f"the {ordinal(day)} of {MONTHS[month - 1]}"
    return f"{MONTHS[month - 1]} {ordinal(day)}"


def _short_year_date(match: re.Match[str], british: bool) -> str:
    """"12/25/99" -> "December twenty-fifth, ninety-nine", "7/4/04" -> "July fourth, oh four"."""
    first, second, year_text = match.groups()
    month, day = (int(second), int(first)) if british else (int(first), int(second))
    if not (1 <= month <= 12 and 1 <= day <= _DAYS_IN[month - 1]):
        return match.group(0)
    two = int(year_text)
    spoken_year = ("oh " + cardinal(two)) if year_text.startswith("0") and two else cardinal(two) if two else "oh oh"
    if british:
        return f"the {ordinal(day)} of {MONTHS[month - 1]}, {spoken_year}"
    return f"{MONTHS[month - 1]} {ordinal(day)}, {spoken_year}"


def date_words(year_text: str, month_text: str, day_text: str, original: str, british: bool) -> str:
    month, day = int(month_text), int(day_text)
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return original
    if british:
        return f"the {ordinal(day)} of {MONTHS[month - 1]}, {year(int(year_text), True)}"
    return f"{MONTHS[month - 1]} {ordinal(day)}, {year(int(year_text))}"


def _month_day(month: str, day_text: str, separator: str | None, year_text: str | None, british: bool,
               match: re.Match[str]) -> str:
    day = int(day_text)
    if not 1 <= day <= 31:
        return match.group(0)
    the = "" if match.string[max(0, match.start() - 4):match.start()].lower() == "the " else "the "
    spoken = f"{the}{ordinal(day)} of {month}" if british else f"{month} {ordinal(day)}"
    if year_text:
        spoken += f", {year(int(year_text), british)}"
    return spoken


def rewrite(rw: Rewriter, british: bool) -> None:
    rw.sub(_ISO_DATE, lambda m: date_words(m.group(1), m.group(2), m.group(3), m.group(0), british))
    rw.sub(_US_DATE, lambda m: date_words(m.group(3), m.group(1), m.group(2), m.group(0), british))
    rw.sub(_US_SHORT_YEAR, lambda m: _short_year_date(m, british))
    rw.sub(_MONTH_DAY, lambda m: _month_day(m.group(1), m.group(2), m.group(3), m.group(4), british, m))
    rw.sub(_DAY_MONTH, lambda m: _month_day(m.group(2), m.group(1), m.group(3), m.group(4), True, m))
    rw.sub(_SHORT_DATE, lambda m: _short_date(m, british))
    rw.sub(_DAY_RANGE, lambda m: f"{_WEEKDAYS[m.group(1).lower()]} to {_WEEKDAYS[m.group(2).lower()]}")
