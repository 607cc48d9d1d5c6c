"""Versions and dotted numbers: software versions, IPv4 addresses, dotted dates.

    "Python 3.11"   -> "Python three point eleven"
    "v2.0.1"        -> "version two point oh point one"
    "USB 3.0"       -> "USB three point oh"
    "192.168.0.1"   -> "one nine two dot one six eight dot zero dot one"
    "24.12.2024"    -> "the twenty-fourth of December, twenty twenty-four"
"""

from __future__ import annotations

import re

from kokoro_server.languages.en.normalize.context import word_before
from kokoro_server.languages.en.normalize.dates import date_words
from kokoro_server.languages.en.numbers import cardinal, digits
from kokoro_server.text.spans import Rewriter


_VERSION_V = re.compile(r"(?<![\w.])[vV][ \t]?(\d{1,4}(?:\.\d{1,4}){1,4})(?![\w]|\.\d)")
_DOTTED = re.compile(r"(?<![\w.])(\d{1,4})\.(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?(?![\w]|\.\d)")
_VERSION_CONTEXT = re.compile(
    r"(?<![\w.])((?:version|ver\.|release|python|java|ios|ipados|android|windows|macos|os x|ubuntu|debian|fedora|"
    r"node|node\.js|php|perl|ruby|rust|kotlin|swift|scala|firefox|chrome|safari|linux|kernel|http|tls|ssl|"
    r"bluetooth|usb|wi-fi|wifi|gtk|qt|unity|excel|office|django|rails|react|angular|vue|typescript|"
    r"postgresql|postgres|mysql|redis|llama|gpt|claude|gemini)[ \t])(\d{1,4})\.(\d{1,4})(?![\w]|\.\d)",
    re.IGNORECASE)


def _version_part(part: str) -> str:
    return "oh" if part == "0" else ("oh " + cardinal(int(part)) if part.startswith("0") else cardinal(int(part)))


def _version_words(version: str) -> str:
    return " point ".join(_version_part(part) for part in version.split("."))


def _dotted(match: re.Match[str]) -> str:
    parts = [p for p in match.groups() if p is not None]
    if len(parts) == 4 and all(int(p) <= 255 for p in parts):  # an IPv4 address
        return " dot ".join(digits(p) for p in parts)
    if len(parts) == 3 and len(parts[2]) == 4 and 1 <= int(parts[1]) <= 12 and 1 <= int(parts[0]) <= 31:
        return date_words(parts[2], parts[1], parts[0], match.group(0), british=True)  # 24.12.2024
    return _version_words(".".join(parts))


def dotted(rw: Rewriter) -> None:
    rw.sub(_DOTTED, _dotted)


def rewrite(rw: Rewriter) -> None:
    rw.sub(_VERSION_V, lambda m: ("" if word_before(m.string, m.start()).lower() in ("version", "ver")
                                  else "version ") + _version_words(m.group(1)))
    rw.sub(_VERSION_CONTEXT, lambda m: [(m.start(2), m.end(3), _version_words(f"{m.group(2)}.{m.group(3)}"))])
