"""Legal and document references with sub-clauses in brackets: read in order, as lawyers say them.

    "Article 5(1)(a)"        -> "Article five, one A"
    "Art. 6(1)(f) GDPR"      -> "Article six, one F GDPR"
    "Rule 12(b)(6)"          -> "Rule twelve, B six"
    "a 501(c)(3) charity"    -> "a five oh one, C three charity"
    "§ 1983(a)"              -> "section nineteen eighty-three, A"
    "section 101(a)(15)(H)"  -> "section one oh one, A fifteen H"
    "clause 4(ii)"           -> "clause four, two" (a Roman numeral of two or more letters)

Without a reference word before it, a number takes this reading only when a letter is among its
brackets: "5(1)" alone, "f(x)", "2(3 + 4)" are left as they are.
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.normalize.context import word_before
from kokoro_server.languages.en.normalize.tables import REFERENCES
from kokoro_server.languages.en.numbers import cardinal, pair, roman
from kokoro_server.text.spans import Rewriter

_REFERENCE_WORDS = frozenset(REFERENCES["reference_words"])
_REFERENCE = re.compile(r"(?<![\w.)])(§§?[ \t]?)?(\d{1,4})((?:\((?:\d{1,3}|[A-Za-z]{1,5})\)){1,6})(?![\w(])")
_CLAUSE = re.compile(r"\(([^()]{1,5})\)")


def _clause(text: str) -> str | None:
    if text.isdigit():
        return cardinal(int(text))
    if len(text) == 1:
        return text.upper()  # a letter: "A", as misaki reads a letter name
    value = roman(text.upper())
    return cardinal(value) if value is not None and text.islower() else None


def _reference(match: re.Match[str]) -> str:
    section, number, brackets = match.groups()
    clauses = _CLAUSE.findall(brackets)
    before = word_before(match.string, match.start()).lower().rstrip(".")
    lettered = any(c.isalpha() for c in clauses)
    if not (section or before in _REFERENCE_WORDS or lettered):
        return match.group(0)
    spoken = [_clause(c) for c in clauses]
    if any(s is None for s in spoken):
        return match.group(0)
    head = ("sections " if section and section.startswith("§§") else "section ") if section else ""
    # a comma after the number keeps "five, one A" from being heard as "fifty-one A"
    return head + (pair(int(number)) if len(number) >= 3 else cardinal(int(number))) + ", " + " ".join(spoken)  # type: ignore[arg-type]


def rewrite(rw: Rewriter) -> None:
    rw.sub(_REFERENCE, _reference)
