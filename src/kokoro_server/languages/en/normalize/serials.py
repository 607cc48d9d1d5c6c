"""Model and part numbers: numbers joined by hyphens that are names, not ranges or counts.

People read a model number's groups in pairs of digits, and a part number's long groups digit by digit::

    "a Boeing 747-400"      -> "a Boeing seven forty-seven four hundred"
    "the 787-9"             -> "the seven eighty-seven nine"
    "Boeing 737-800"        -> "Boeing seven thirty-seven eight hundred"  (a maker's name before it)
    "a Boeing 747"          -> "a Boeing seven forty-seven"
    "an A320-200"           -> "an A three twenty two hundred"
    "the F-150", "T-800"    -> "the F one fifty", "T eight hundred"
    "RTX-4090"              -> "RTX forty ninety"
    "part 4521-0032"        -> "part forty-five twenty-one, zero zero three two"
    "ISBN 978-3-16-148410-0" -> "ISBN nine-seven-eight, three, one-six, one-four-eight-four-one-zero, zero"

A range stays a range: "pages 10-20", "10-12 guests", "won 105-98", "125-200 people" (a range's
second number is rarely a round hundred below the first, or a single digit after a three-digit one).
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.normalize.context import word_before
from kokoro_server.languages.en.normalize.tables import SERIALS
from kokoro_server.languages.en.normalize.telephone import say_groups
from kokoro_server.languages.en.numbers import cardinal, digits, pair
from kokoro_server.text.spans import Rewriter

_MODEL_WORDS = frozenset(word.lower() for word in SERIALS["model_words"])  # "Boeing 737-800", "model 3200-10"
_RANGE_WORDS = frozenset(SERIALS["range_words"])  # "pages 747-800" is a range whatever the numbers
_MAKERS = frozenset(SERIALS["makers"])
_MAKER_MODEL = re.compile(r"(?<![\w.,$£€¥₹/:-])(\d{3})(?![\w%°/-]|[.,:]\d)")  # "Boeing 747"

# "747-400", "787-9": two groups, the first of three digits (not round)
_MODEL = re.compile(r"(?<![\w.,$£€¥₹/:-])(\d{2,4})-(\d{1,4})(?![\w%°/-]|[.,]\d)")
# "F-150", "RTX-4090", "A320-200": letters (and digits) joined to a number of three or four digits
_LETTERS_MODEL = re.compile(r"(?<![\w.-])([A-Z][A-Za-z]{0,5}(?:\d{1,4})?)-(\d{3,4})(?:-(\d{1,4}))?(?![\w%°/-]|[.,]\d)")
_GLUED_MODEL = re.compile(r"(?<![\w.-])([A-Z]{1,3})(\d{3})-(\d{1,4})(?![\w%°/-]|[.,]\d)")  # "A320-200"
# "978-3-16-148410-0", "123-45-6789": three or more groups of digits (telephone numbers and dates are read first)
_PART = re.compile(r"(?<![\w.,/:-])\d{1,6}(?:-\d{1,6}){2,6}(?![\w%°/-]|[.,]\d)")


def _group(text: str) -> str:
    """One group of a model number: "747" -> seven forty-seven, "0032" -> zero zero three two."""
    if text.startswith("0") and len(text) > 1 or len(text) > 4:
        return digits(text)
    return pair(int(text)) if len(text) >= 3 else cardinal(int(text))


def _model(match: re.Match[str]) -> str:
    first, second = match.group(1), match.group(2)
    before = word_before(match.string, match.start()).lower().rstrip(".")
    if before in _RANGE_WORDS:
        return match.group(0)
    named = before in _MODEL_WORDS
    shaped = (len(first) == 3 and not first.endswith("0") and
              (len(second) == 3 and second.endswith("00") and int(second) < int(first) or len(second) == 1))
    part = len(second) > 1 and second.startswith("0")  # "4521-0032": no range has a zero-led end
    if not (named or shaped or part):
        return match.group(0)
    if part and not named:
        return f"{_group(first)}, {digits(second)}"
    return f"{_group(first)}{',' if part else ''} {_group(second)}"


def _letters_model(match: re.Match[str]) -> str:
    name, number, variant = match.groups()
    return f"{name} {_group(number)}" + (f" {_group(variant)}" if variant else "")


def _glued_model(match: re.Match[str]) -> str:
    letters, number, variant = match.groups()
    return f"{letters} {pair(int(number))} {_group(variant)}"


def _maker_model(match: re.Match[str]) -> str:
    if word_before(match.string, match.start()) not in _MAKERS:
        return match.group(0)
    return pair(int(match.group(1)))


def _part(match: re.Match[str]) -> str:
    return say_groups(match.group(0).split("-"))


def rewrite(rw: Rewriter) -> None:
    rw.sub(_PART, _part)
    rw.sub(_GLUED_MODEL, _glued_model)
    rw.sub(_LETTERS_MODEL, _letters_model)
    rw.sub(_MODEL, _model)
    rw.sub(_MAKER_MODEL, _maker_model)
