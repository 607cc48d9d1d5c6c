"""Money: currency symbols and codes before or after amounts, cents and pence, magnitudes.

    "It costs $5.50."   -> "It costs five dollars and fifty cents."
    "£20.50"            -> "twenty pounds and fifty pence"
    "$1.5M"             -> "one point five million dollars"
    "₹5 crore"          -> "five crore rupees"
    "100 USD"           -> "one hundred dollars"

The currencies, their codes and the magnitudes are the table ``money.json``.
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.normalize.context import plural
from kokoro_server.languages.en.normalize.tables import MONEY
from kokoro_server.languages.en.numbers import cardinal, number_words
from kokoro_server.text.spans import Rewriter


_MONEY = re.compile(r"([$£€¥₹])[ \t]?(\d{1,15}(?:,\d{3}){0,5}(?:\.\d{1,2})?)(?![\d.,]\d|\d)"
                    r"(?:[ \t]?(thousand|million|billion|trillion|lakh|crore|[kKmMbB]n?|bn|tn|mn|[kK])(?![\w]))?")
_MONEY_CODE = re.compile(r"(?<![\w.,])(\d{1,15}(?:,\d{3}){0,5}(?:\.\d{1,2})?)[ \t]?(USD|EUR|GBP|JPY|INR)\b")
_MAGNITUDES: dict[str, str] = MONEY["magnitudes"]
_CURRENCIES: dict[str, list[str]] = MONEY["currencies"]
_CODES: dict[str, str] = MONEY["codes"]


def _say_money(symbol: str, amount: str, magnitude: str | None) -> str:
    unit, sub_unit = _CURRENCIES[symbol]
    whole, _, cents = amount.replace(",", "").partition(".")
    if magnitude:
        word = _MAGNITUDES.get(magnitude.lower(), magnitude.lower())
        return f"{number_words(amount)} {word} {plural(unit, 'many')}"
    spoken = f"{number_words(whole)} {plural(unit, whole)}"
    if cents and int(cents.ljust(2, "0")):
        value = int(cents.ljust(2, "0"))
        if not sub_unit:
            return f"{number_words(amount)} {plural(unit, 'many')}"
        spoken += f" and {cardinal(value)} {plural(sub_unit, str(value))}"
    return spoken


def rewrite(rw: Rewriter) -> None:
    rw.sub(_MONEY, lambda m: _say_money(m.group(1), m.group(2), m.group(3)))
    rw.sub(_MONEY_CODE, lambda m: _say_money(_CODES[m.group(2)], m.group(1), None))
