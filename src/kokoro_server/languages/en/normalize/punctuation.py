"""Punctuation that changes how a sentence is read: curly quotes and primes, and asides in brackets.

    "The price (including tax) is"  -> "The price, including tax, is"
    "the price (tax)."              -> "the price, tax."
    "f(x) is"                       -> "f(x) is" (no space before the bracket: not an aside)
    "Smith (2020) found"            -> "Smith twenty twenty found" (a year alone in brackets)
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.numbers import year
from kokoro_server.text.spans import Edit, Rewriter


_QUOTES = re.compile("[\u2018\u2019\u2032]")
_DOUBLE_PRIMES = re.compile("[\u2033]")

_ASIDE = re.compile(r"(?<=\w)[ \t]{1,3}\(([^()\n]{1,300})\)(?=([.,;:!?]?))")
_YEAR_ALONE = re.compile(r"[ \t]*(1\d{3}|20\d\d)[ \t]*")  # "(1998)", a citation's or a work's year


def _aside(match: re.Match[str], british: bool) -> list[Edit]:
    inner = match.group(1).strip()
    alone = _YEAR_ALONE.fullmatch(match.group(1))
    if alone:
        spoken = year(int(alone.group(1)), british)
        return [(match.start(), match.start(1), " "), (match.start(1), match.end(1), spoken),
                (match.end(1), match.end(), "")]
    if not inner or not any(ch.isalpha() for ch in inner):
        return [(match.start(), match.start(1), " "), (match.end(1), match.end(), "")]
    close = "" if match.group(2) else ","
    return [(match.start(), match.start(1), ", "), (match.end(1), match.end(), close)]


def quotes(rw: Rewriter) -> None:
    rw.sub(_QUOTES, "'")
    rw.sub(_DOUBLE_PRIMES, '"')


def asides(rw: Rewriter, british: bool = False) -> None:
    rw.sub(_ASIDE, lambda m: _aside(m, british))
