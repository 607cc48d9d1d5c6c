"""The context English rules read around a match (a few characters either side, so each rule stays
linear), and the patterns several semiotic classes share.

    word_before("born in 1990", 8)   -> "in"
    sentence_ends("St. Then", 3)     -> True  (a capital letter follows)
    plural("foot", "6")              -> "feet"
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.normalize.tables import MONTHS

MONTH_NAMES = "|".join(MONTHS)

# -- context within a few characters of a match ---------------------------------------------

_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z'.]{0,19})[\s,]{1,3}$")
_WORD_AFTER = re.compile(r"[\s,]{0,3}([A-Za-z][A-Za-z'.]{0,19})")


def word_before(text: str, start: int) -> str:
    match = _WORD_BEFORE.search(text, max(0, start - 24), start)
    return match.group(1) if match else ""


def word_after(text: str, end: int) -> str:
    match = _WORD_AFTER.match(text, end, end + 24)
    return match.group(1) if match else ""


def sentence_ends(text: str, end: int) -> bool:
    """Whether a sentence ends at ``end`` (only blanks, then a capital letter, a newline or the end)."""
    rest = text[end:end + 12].lstrip(" \t")
    return not rest or rest[0] == "\n" or rest[0].isupper() or rest[0] in "\"'“"


YEAR = r"1\d{3}|20\d\d"
GROUPED = r"\d{1,3}(?:,\d{3}){1,4}"  # "1,234,567"
AMOUNT = r"(?:" + GROUPED + r"|\d{1,15})"  # "1,000" or "1000": read whole, not as "1," + "000"
DASH = r"[ \t]?[-\u2013\u2212][ \t]?"


def plural(word: str, amount: str) -> str:
    if amount in ("1", "1.0", "one", "01") or word in ("yen",) or word.endswith("hertz"):
        return word
    return {"penny": "pence", "paisa": "paise", "foot": "feet", "inch": "inches"}.get(
        word, word + ("es" if word.endswith(("ch", "sh")) else "s"))
