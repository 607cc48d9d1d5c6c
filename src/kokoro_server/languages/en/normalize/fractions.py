"""Fractions: written with a slash, vulgar fraction characters, ratings, and the joined pairs read as numbers.

    "3/4 of them"   -> "three quarters of them"
    "1 1/2 cups"    -> "one and a half cups"
    "2½ hours"      -> "two and a half hours"
    "rated 8/10"    -> "rated eight out of ten"
    "9/11", "24/7"  -> "nine eleven", "twenty-four seven"
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.normalize.context import word_before
from kokoro_server.languages.en.numbers import cardinal, fraction, number_words
from kokoro_server.text.spans import Rewriter


_FRACTION = re.compile(r"(?<![\w/.,-])(?:(\d{1,3})[ \t])?(\d{1,3})/(\d{1,3})(?![\w/]|[.,]\d)")
_VULGAR = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5), "⅖": (2, 5),
           "⅗": (3, 5), "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8),
           "⅞": (7, 8)}
_VULGAR_FRACTION = re.compile(r"(\d{1,6})?[ \t]?([" + "".join(_VULGAR) + "])")
_RATING_WORDS = frozenset("rated rating rate score scored scores got gave give gives giving out".split())
_JOINED = {(9, 11), (7, 11), (50, 50), (20, 20)}
_ROUND_THE_CLOCK = re.compile(r"(?<![\w.,/-])24[ \t]?[/-][ \t]?7(?![\w/-]|[.,]\d)")


def _mixed(whole: str | None, numerator: int, denominator: int) -> str:
    if not whole:
        return fraction(numerator, denominator)
    if numerator == 1 and denominator in (2, 4):
        return f"{number_words(whole)} and a {'half' if denominator == 2 else 'quarter'}"
    return f"{number_words(whole)} and {fraction(numerator, denominator)}"


def _fraction(match: re.Match[str]) -> str:
    whole, numerator, denominator = match.group(1), int(match.group(2)), int(match.group(3))
    if (numerator, denominator) in _JOINED or denominator == 0:
        return (f"{number_words(whole)} " if whole else "") + f"{cardinal(numerator)} {cardinal(denominator)}"
    if word_before(match.string, match.start() if not whole else match.start(2)).lower() in _RATING_WORDS:
        return (f"{number_words(whole)} " if whole else "") + f"{cardinal(numerator)} out of {cardinal(denominator)}"
    if numerator >= denominator or denominator > 100 or denominator == 1:
        return (f"{number_words(whole)} " if whole else "") + f"{cardinal(numerator)} over {cardinal(denominator)}"
    return _mixed(whole, numerator, denominator)


def round_the_clock(rw: Rewriter) -> None:
    rw.sub(_ROUND_THE_CLOCK, "twenty-four seven")


def rewrite(rw: Rewriter) -> None:
    rw.sub(_FRACTION, _fraction)
    rw.sub(_VULGAR_FRACTION, lambda m: " " + _mixed(m.group(1), *_VULGAR[m.group(2)]) + " ")
