"""Mandarin ``<say-as>`` readings with cn2an (num2words has no Mandarin).

    cardinal "1,234"  -> "一千二百三十四"
    ordinal "21"      -> "第二十一"
    digits "42"       -> "四 二"
"""

from __future__ import annotations

from kokoro_server.languages.say_as import SayAs


class MandarinSayAs(SayAs):
    def number(self, digits: str, to: str = "cardinal") -> str | None:
        import cn2an

        try:
            spoken = cn2an.an2cn(digits, "low")
        except (ValueError, TypeError, KeyError):
            return None
        return "第" + spoken if to == "ordinal" else spoken
