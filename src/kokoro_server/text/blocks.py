"""A long text segment as blocks of a few thousand characters, normalized one at a time.

Normalization is linear, but running it over 100,000 characters before the first chunk would delay
the first audio and hold the whole normalized text (and its span map) at once; so the service
normalizes a segment block by block as the chunker reaches it. A segment of at most
:data:`BLOCK_CHARS` characters is one block (every ordinary request: its reading is unchanged).
A longer one is cut at a line break, else after a sentence (a word of four letters or more, then
``.``, ``!`` or ``?``, then a space: not after an abbreviation such as "Dr."), else at a space, else
anywhere, always in the second half of the window, so the rules' context (a few characters around
a match) is rarely cut.

>>> [len(b.text) for b in blocks(Text("a" * 10_000, 0, 10_000))]
[4096, 4096, 1808]
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from kokoro_server.text.document import Text

BLOCK_CHARS = 4096
_SENTENCE_END = re.compile(r"[^\W\d_]{4}[.!?][\"')\]]{0,2}\s")


def _cut(text: str, start: int, size: int) -> int:
    """Where the block of ``text`` starting at ``start`` ends (at most ``size`` characters)."""
    end = start + size
    half = start + size // 2
    at = max(text.rfind("\n", half, end), -1)
    if at >= 0:
        return at + 1
    last = None
    for last in _SENTENCE_END.finditer(text, half, end):
        pass
    if last is not None:
        return last.end()
    at = max(text.rfind(" ", half, end), text.rfind("\t", half, end))
    return at + 1 if at >= 0 else end


def blocks(segment: Text, size: int = BLOCK_CHARS) -> Iterator[Text]:
    """``segment`` as consecutive text segments of at most ``size`` characters (see the module)."""
    text = segment.text
    if len(text) <= size:
        yield segment
        return
    position = 0
    while position < len(text):
        end = len(text) if len(text) - position <= size else _cut(text, position, size)
        if segment.substituted:  # a reading (say-as, sub): every part speaks for the whole span
            yield replace(segment, text=text[position:end])
        else:
            yield Text(text[position:end], segment.start + position, segment.start + end)
        position = end
