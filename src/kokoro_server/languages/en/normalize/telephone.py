"""Telephone numbers, read digit by digit in their groups, as they are dictated.

    "Call 555-123-4567"   -> "Call five-five-five, one-two-three, four-five-six-seven"
    "+44 20 7946 0958"    -> "plus four four, two-zero, seven-nine-four-six, zero-nine-five-eight"
    "call 555-1234"       -> "call five-five-five, one-two-three-four"
    "Call 911 now"        -> "Call nine one one now"
    "pages 100-1000"      -> left to the range rules

Vanity numbers spell their last digits as a word, and are read as the word::

    "1-800-FLOWERS"       -> "one, eight hundred, flowers"
    "1-888-NEW-CARS"      -> "one, eight eight eight, new cars"
    "call 555-GET-FOOD"   -> "call five-five-five, get food"
    "1-800-Flowers.com"   -> "one, eight hundred, flowers.com" (the web rules read the rest)
    "a 1-800 number"      -> "a one eight hundred number"
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.normalize.context import word_after, word_before
from kokoro_server.languages.en.numbers import digits
from kokoro_server.text.spans import Rewriter


_PHONE = re.compile(r"(?<![\w+.,-])(?:(\+\d{1,3})[ .-]?|(1)[ .-])?(?:\((\d{3})\)[ ]?|(\d{3})[ .-])(\d{3})[ .-](\d{4})"
                    r"(?![\w-]|[.,]\d)")
_PHONE_INTERNATIONAL = re.compile(r"(?<![\w+])\+(\d{1,3})((?:[ .-]\d{1,5}){2,5})(?![\w-]|[.,]\d)")
_PHONE_LOCAL = re.compile(r"(?<![\w.,-])(\d{3})-(\d{4})(?![\w-]|[.,]\d)")
_SHORT_NUMBER = re.compile(r"\b(?:[Cc]all|[Dd]ial|[Rr]ing|[Tt]ext)[ \t]{1,3}(\d{3})(?![\w-]|[.,]\d)")  # "call 911"
_RANGE_WORDS = frozenset("pages page pp from between years ages aged rows lines items numbers verses "
                         "chapters sizes".split())
_NUMBER_WORDS = frozenset("number numbers line lines hotline call calls".split())
_PHONE_WORDS = frozenset("call phone tel telephone fax dial mobile cell number ring text contact hotline "
                         "reach at on".split())


# a vanity number: a toll-free or dialled area code, then words in capitals (digits may mix in)
_VANITY = re.compile(r"(?<![\w+.,-])(?:(\+?1)[ .-])?(?:\((\d{3})\)[ ]?|(\d{3})[ .-])"
                     r"((?=[A-Za-z0-9-]{0,12}[A-Za-z]{3})[A-Za-z0-9]{1,10}(?:[ .-][A-Za-z0-9]{1,10}){0,3})(?![\w-])")
_TOLL_FREE = frozenset(("800", "888", "877", "866", "855", "844", "833"))
_TOLL_FREE_PREFIX = re.compile(r"(?<![\w.,+-])1-(8(?:00|88|77|66|55|44|33))(?![\w-]|[.,]\d)")  # "a 1-800 number"


def say_groups(groups: list[str]) -> str:
    """Digit groups as they are dictated: "five-five-five, one-two-three" (the hyphens keep each
    group together, the commas pause between them)."""
    return ", ".join(digits(group).replace(" ", "-") for group in groups if group)


def _phone(match: re.Match[str]) -> str:
    country, one, area, area2, exchange, line = match.groups()
    prefix = f"plus {digits(country)}, " if country else ("one, " if one else "")
    return prefix + say_groups([area or area2, exchange, line])


def _vanity(match: re.Match[str]) -> str:
    """A toll-free prefix (with "1"), an area code in brackets or a phone word before it make it a
    telephone number; "737-MAX" alone is no telephone number."""
    one, bracketed, area, spelled = match.groups()
    code = bracketed or area
    called = word_before(match.string, match.start()).lower() in _PHONE_WORDS
    capitals = not any(ch.islower() for ch in spelled)  # "800-FLOWERS"; "800-pound gorilla" is no number
    spaced = match.string[match.start(4) - 1] == " "  # "a 1-800 number": a word after the number
    if not (one or bracketed or called or code in _TOLL_FREE and capitals) or (spaced and not capitals) or \
            sum(ch.isalpha() for ch in spelled) < 3:
        return match.group(0)
    prefix = "one, " if one else ""
    area_words = _area_words(code)
    words = " ".join(digits(run) if run.isdigit() else run.lower()
                     for run in re.findall(r"[0-9]+|[A-Za-z]+", spelled))
    return f"{prefix}{area_words}, {words}"


def _toll_free_prefix(match: re.Match[str]) -> str:
    """"a 1-800 number", "call 1-800": else "pages 1-800" is a range."""
    text = match.string
    if word_after(text, match.end()).lower() not in _NUMBER_WORDS and \
            word_before(text, match.start()).lower() not in _PHONE_WORDS - {"at", "on", "number"}:
        return match.group(0)
    return "one " + _area_words(match.group(1))


def _area_words(code: str) -> str:
    return "eight hundred" if code == "800" else digits(code).replace(" ", "-")


def _phone_international(match: re.Match[str]) -> str:
    groups = re.split(r"[ .-]", match.group(2).strip(" .-"))
    return f"plus {digits(match.group(1))}, " + say_groups(groups)


def _phone_local(match: re.Match[str]) -> str:
    """"call 555-1234", and "555-1234" alone: exchanges start with 2-9 and lines are rarely round,
    while "pages 100-1000" and "250-1000 words" are ranges."""
    before = word_before(match.string, match.start()).lower()
    exchange, line = match.group(1), match.group(2)
    dialled = exchange[0] in "23456789" and not line.endswith("00") and before not in _RANGE_WORDS
    if before not in _PHONE_WORDS and not dialled:
        return match.group(0)
    return say_groups([exchange, line])


def rewrite(rw: Rewriter) -> None:
    rw.sub(_VANITY, _vanity)
    rw.sub(_TOLL_FREE_PREFIX, _toll_free_prefix)
    rw.sub(_PHONE, _phone)
    rw.sub(_PHONE_INTERNATIONAL, _phone_international)
    rw.sub(_PHONE_LOCAL, _phone_local)
    rw.sub(_SHORT_NUMBER, lambda m: [(m.start(1), m.end(1), digits(m.group(1)))])
