"""Input cleaning at the very start of the text layer, for every language.

Text that is legal JSON can still break the front ends: a lone surrogate (``"\\ud800"``) cannot be
encoded to UTF-8 by spaCy, espeak or OpenJTalk, control characters confuse them, and digits of other
scripts (Arabic-Indic, Devanagari, Bengali, fullwidth...) are unknown to the Japanese number reader.
:func:`clean_input` replaces each such character by exactly one character, so offsets into the
cleaned text are offsets into the original input (word timestamps rely on that).
"""

from __future__ import annotations

import unicodedata

_KEEP = frozenset("\t\n\r")


def _replacement(char: str) -> str | None:
    """What ``char`` becomes (one character), or None to keep it."""
    code = ord(char)
    if code < 0x80:
        return " " if (code < 0x20 and char not in _KEEP) or code == 0x7F else None
    if 0xD800 <= code <= 0xDFFF:  # a lone surrogate (a paired one never reaches a Python str)
        return " "
    category = unicodedata.category(char)
    if category == "Nd":
        return str(unicodedata.decimal(char))
    if category == "Cc":  # C1 controls
        return " "
    if category == "Cn" and (code & 0xFFFE == 0xFFFE or 0xFDD0 <= code <= 0xFDEF):  # noncharacters
        return " "
    if char in "\u2028\u2029":  # line and paragraph separators: the newlines they stand for
        return "\n"
    return None


def clean_input(text: str) -> str:
    """``text`` with unpaired surrogates, control characters and noncharacters replaced by a space
    and every Unicode decimal digit folded to its ASCII digit, one character for one."""
    if text.isascii() and text.isprintable():
        return text
    out: list[str] | None = None
    for index, char in enumerate(text):
        if char.isascii() and (char.isprintable() or char in _KEEP):
            continue
        replacement = _replacement(char)
        if replacement is not None:
            if out is None:
                out = list(text)
            out[index] = replacement
    return text if out is None else "".join(out)
