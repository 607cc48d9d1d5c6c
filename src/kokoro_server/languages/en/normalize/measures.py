"""Measures: amounts with units, rates per unit, sizes, multipliers, heights in feet and inches.

    "a 5km run"        -> "a five kilometers run"
    "120 km/h"         -> "one hundred and twenty kilometers per hour"
    "a home of 1,800 sq ft" -> "a home of one thousand eight hundred square feet"
    "$5/hr"            -> "five dollars per hour"
    "1920x1080"        -> "nineteen twenty by ten eighty"
    "2x faster"        -> "two times faster"
    "6'2\" tall"       -> "six foot two tall"
    "5 in the box"     -> "five in the box" (spaced, "in" is no inch)

The units are the table ``units.tsv``.
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.normalize.context import AMOUNT, plural
from kokoro_server.languages.en.normalize.tables import UNITS
from kokoro_server.languages.en.numbers import cardinal, number_words, pair
from kokoro_server.text.spans import Rewriter


_PER = re.compile(r"(?<=[a-z%])[ \t]?/[ \t]?(hour|hr|h|day|d|week|wk|month|mo|year|yr|y|night|person|head|"
                  r"unit|piece|item|page|minute|min|second|sec|s|kg|lb|mile|km|liter|litre|gallon|visit|"
                  r"user|seat|share|serving)\b")
_PER_WORDS = {"hr": "hour", "h": "hour", "d": "day", "wk": "week", "mo": "month", "yr": "year", "y": "year",
              "min": "minute", "sec": "second", "s": "second", "kg": "kilogram", "lb": "pound", "km": "kilometer"}

_SIZE = re.compile(r"(?<![\w.])(\d{1,5})[ \t]?[x×][ \t]?(\d{1,5})(?:[ \t]?[x×][ \t]?(\d{1,5}))?(?![\w.]|[.,]\d)")
_TIMES = re.compile(r"(?<![\w.])(" + AMOUNT + r"(?:\.\d{1,3})?)[x×](?![\w])")
_HEIGHT = re.compile(r"(?<![\w.'])(\d{1,2})'[ \t]?(\d{1,2})(?:\"|''|\u2033|(?![\d'\w]))")
_FEET = re.compile(r"(?<![\w.'])(\d{1,3})'(?=[ \t]{1,3}(?:tall|long|wide|high|deep|away|under)\b)")


def _size(match: re.Match[str]) -> str:
    values = [int(v) for v in match.groups() if v]
    resolution = len(values) == 2 and all(v >= 100 for v in values)
    return " by ".join(pair(v) if resolution else cardinal(v) for v in values)


_UNITS = UNITS
_SPACED_ONLY_GLUED = frozenset({"in", "t", "pt", "au", "ha", "cal", "kn"})  # "5 in the box" is no inch
_UNIT = re.compile(r"(?<![\w.])(" + AMOUNT + r"(?:\.\d{1,10})?)([ \t]?)(" +
                   "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True)) +
                   r")(?![\w/²³])(\.(?=[ \t]{1,3}[a-z]))?", re.IGNORECASE)


def _unit(match: re.Match[str]) -> str:
    amount, space, unit = match.group(1), match.group(2), match.group(3)
    key = unit.lower()
    if unit == "M" or unit in ("T", "S", "H", "G", "L") and not space or key in _SPACED_ONLY_GLUED and space:
        return match.group(0)  # "5M" is a magnitude, "5 in the box" no inch
    words = _UNITS[key].split(" ")
    # the counted word: "miles per hour", "degrees Celsius", but "square feet", "kilowatt hours"
    counted = 0 if len(words) == 1 or words[1] in ("per", "Celsius", "Fahrenheit") else len(words) - 1
    words[counted] = plural(words[counted], amount)
    return f"{number_words(amount)} {' '.join(words)}"


def sizes(rw: Rewriter) -> None:
    rw.sub(_SIZE, _size)
    rw.sub(_TIMES, lambda m: f"{number_words(m.group(1))} times")
    rw.sub(_HEIGHT, lambda m: f"{cardinal(int(m.group(1)))} foot {cardinal(int(m.group(2)))}")
    rw.sub(_FEET, lambda m: f"{cardinal(int(m.group(1)))} {plural('foot', m.group(1))}")


def units(rw: Rewriter) -> None:
    rw.sub(_UNIT, _unit)
    rw.sub(_PER, lambda m: " per " + _PER_WORDS.get(m.group(1).lower(), m.group(1)))
