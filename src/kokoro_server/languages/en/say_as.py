"""English ``<say-as>`` readings, with the English number words and normalization.

    cardinal "1,234"          -> "one thousand two hundred and thirty-four"
    ordinal "21"              -> "twenty-first"
    date "12/25/2024" (mdy)   -> "December twenty-fifth, twenty twenty-four"
    date "1969-07-20"         -> "July twentieth, nineteen sixty-nine"
    time "10:30"              -> "ten thirty"
    telephone "+1 555-0123"   -> "plus one, five five five, zero one two three"
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.normalize import english
from kokoro_server.languages.en.normalize.tables import MONTHS
from kokoro_server.languages.en.numbers import number_words, ordinal, year
from kokoro_server.languages.say_as import SayAs
from kokoro_server.text.normalize import DEFAULT_OPTIONS, normalize


class EnglishSayAs(SayAs):
    def __init__(self, british: bool) -> None:
        super().__init__("en")
        self.british = british

    def number(self, digits: str, to: str = "cardinal") -> str | None:
        if to == "ordinal":
            return ordinal(int(float(digits)))
        return ("minus " if digits.startswith("-") else "") + number_words(digits.lstrip("-"))

    def date(self, text: str, fmt: str = "") -> str:
        parts = re.findall(r"\d{1,4}", text)
        fmt = (fmt or ("ymd" if parts and len(parts[0]) == 4 else "mdy")).lower()
        values = dict(zip(fmt, parts))
        if not values:
            return " ".join(self.cardinal(p) for p in parts) if parts else text
        spoken = []
        month = int(values.get("m", "0") or 0)
        if 1 <= month <= 12:
            spoken.append(MONTHS[month - 1])
        if "d" in values and 1 <= int(values["d"]) <= 31:
            spoken.append(ordinal(int(values["d"])))
        if "y" in values:
            said = year(int(values["y"]))
            spoken.append(("," if len(spoken) > 1 else "") + " " + said if spoken else said)
        return " ".join(spoken).replace(" ,", ",") or text

    def time(self, text: str) -> str:
        return normalize(text, DEFAULT_OPTIONS, rules=lambda rw, options: english(rw, options, self.british)).text

    def telephone(self, text: str, plus: str = "plus") -> str:
        return super().telephone(text, plus)


