"""Roman numerals after names: regnal ordinals after rulers' names and titles, cardinals after sequel words.

    "Henry VIII"          -> "Henry the Eighth"
    "Pope John Paul II"   -> "Pope John Paul the Second"
    "World War II"        -> "World War two"
    "Super Bowl LVII"     -> "Super Bowl fifty-seven"
    "Then Henry I saw it" -> unchanged (the pronoun)
    "Malcolm X", "Size XL" -> unchanged

The names, titles and sequel words are the table ``roman.json``.
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.normalize.tables import ROMAN
from kokoro_server.languages.en.numbers import cardinal, ordinal, roman
from kokoro_server.text.spans import Rewriter


_REGNAL_NAMES = frozenset(ROMAN["regnal_names"])
_TITLE_WORDS = frozenset(ROMAN["title_words"])
_SEQUEL_WORDS = frozenset(ROMAN["sequel_words"])
_ROMAN_NUMERAL = re.compile(r"(?<![\w.'-])([IVXL]{1,7})(?=(?:'s)?(?![\w-]|\.\w))")
_NAME_BEFORE = re.compile(r"(?:([A-Z][a-z]{1,15}'?s?)[ \t])?([A-Z][a-z]{1,15})[ \t](?:(the)[ \t])?$")
_PRONOUN_AFTER = re.compile(r"(?:'s)?[ \t]{1,3}[a-z]")


def _roman(match: re.Match[str]) -> str:
    text, numeral = match.string, match.group(1)
    value = roman(numeral)
    context = _NAME_BEFORE.search(text, max(0, match.start() - 40), match.start())
    if value is None or context is None or numeral in ("XL", "LI", "L", "LX", "LXX"):
        return numeral
    title, name, the = context.groups()
    regnal = name in _REGNAL_NAMES or (title or "") in _TITLE_WORDS
    if name == "Malcolm" and numeral == "X":
        return numeral
    if regnal:
        if numeral == "I" and not (title in _TITLE_WORDS or the) and _PRONOUN_AFTER.match(text, match.end()):
            return numeral  # "when Henry I saw": more likely the pronoun
        return ("" if the else "the ") + ordinal(value).capitalize()
    if the:
        return numeral
    if name.lower() in _SEQUEL_WORDS or len(numeral) > 1 and numeral not in ("IV", "VI", "XX", "XXX"):
        return cardinal(value)
    return numeral


def rewrite(rw: Rewriter) -> None:
    rw.sub(_ROMAN_NUMERAL, _roman)
