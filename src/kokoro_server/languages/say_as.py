"""``<say-as>`` readings: what ``<say-as interpret-as="...">`` makes of its text, per language.

:class:`SayAs` reads numbers with num2words in the pack's language and leaves what it cannot read
(dates and times beyond their numbers) to the front end; a pack with better readings (English)
overrides the methods it knows better. Examples, for Spanish (num2words ``es``)::

    cardinal "1,234"   -> "mil doscientos treinta y cuatro"
    ordinal "21"       -> "vigésimo primero"
    digits "42"        -> "cuatro dos"
    characters "ab1"   -> "A B uno"
    telephone "555-01" -> "cinco cinco cinco, cero uno"
"""

from __future__ import annotations

import re
from collections.abc import Callable

_NUMBER = re.compile(r"-?\d{1,15}(?:\.\d{1,10})?")


class SayAs:
    def __init__(self, num2words: str | None = None) -> None:
        self.num2words = num2words

    def read(self, text: str, interpret_as: str, fmt: str = "") -> str | None:
        """``text`` as ``interpret_as`` says (None: an interpretation this language cannot read)."""
        readers: dict[str, Callable[[str, str], str | None]] = {
            "characters": lambda t, f: self.characters(t), "spell-out": lambda t, f: self.characters(t),
            "cardinal": lambda t, f: self.cardinal(t), "number": lambda t, f: self.cardinal(t),
            "ordinal": lambda t, f: self.ordinal(re.sub(r"(?i)(st|nd|rd|th)$", "", t.strip())),
            "digits": lambda t, f: self.digits(t) or t, "date": self.date, "time": lambda t, f: self.time(t),
            "telephone": lambda t, f: self.telephone(t),
        }
        reader = readers.get(interpret_as.lower())
        return reader(text, fmt) if reader else None

    # -- the readings; a language overrides those it reads better ---------------------------------
    def number(self, digits: str, to: str = "cardinal") -> str | None:
        """A number's words (``digits`` already without group separators), None if unreadable."""
        if self.num2words is None:
            return None
        from num2words import num2words

        try:
            return num2words(float(digits) if "." in digits else int(digits), lang=self.num2words, to=to)
        except (NotImplementedError, OverflowError, ValueError, KeyError, TypeError):
            return None

    def cardinal(self, text: str, to: str = "cardinal") -> str:
        digits = re.sub(r"[,\s_]", "", text)
        if not _NUMBER.fullmatch(digits):
            return text
        return self.number(digits, to) or text

    def ordinal(self, text: str) -> str:
        return self.cardinal(text, "ordinal")

    def digits(self, text: str) -> str:
        return " ".join(self.cardinal(ch) for ch in text if ch.isdigit())

    def characters(self, text: str) -> str:
        return " ".join(self.cardinal(ch) if ch.isdigit() else ch.upper() for ch in text if not ch.isspace())

    def date(self, text: str, fmt: str = "") -> str:
        parts = re.findall(r"\d{1,4}", text)
        return " ".join(self.cardinal(p) for p in parts) if parts else text

    def time(self, text: str) -> str:
        return text

    def telephone(self, text: str, plus: str = "") -> str:
        groups = re.findall(r"\d+", text)
        if not groups:
            return text
        spoken = ", ".join(self.digits(g) for g in groups)
        return (plus + " " if plus and text.strip().startswith("+") else "") + spoken
