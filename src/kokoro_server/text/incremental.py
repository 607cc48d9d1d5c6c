"""Text that arrives in pieces (a language model's answer, a few characters at a time), cut into parts
that can be synthesized while the rest is still arriving.

Language-blind: where a part may end comes from the chunker's phrase marks (sentence and clause ends,
paragraph breaks), and whether a cut is safe from the caller's *reading* of the text (its markup
parsed and its text normalized, by the language's rules). A cut is made only

- once the word after it has fully arrived (whitespace follows it), so rules that look at the next
  word see it ("Dr. Smith" is "Doctor Smith", "Main St. " a street), and a token still arriving
  ("$1" + "2.50", "Dr" + ".", "[pau" + "se:1s]") is never cut or read before it is whole;
- where reading the two sides apart gives what reading them together gives; so the parts, read one
  by one, read as the whole text would.

Examples (``reading`` = parse + normalize)::

    >>> stream = TextStream(reading)
    >>> stream.append("It costs $1")
    >>> stream.append("2.50, ")          # "$12.50" is whole, but nothing after the comma yet
    >>> stream.take_phrases() is None
    True
    >>> stream.append("says Dr")
    >>> stream.take_phrases()            # the comma is a safe phrase end now
    Part(start=0, end=16, boundary='clause')
    >>> stream.append(". Smith. And ")    # "Dr." is no sentence end: "Dr. Smith" reads "Doctor Smith"
    >>> stream.take_phrases()
    Part(start=16, end=32, boundary='sentence')

The caller decides *when* to cut (a phrase is complete, a length schedule, an explicit flush, a quiet
period); this module decides *where* a cut is safe and what kind of boundary it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kokoro_server.text.chunk import _CLAUSE_MARKS, Boundary

Reading = Callable[[str], str]
"""Text -> how it will be read (markup parsed, normalized), as one string; may raise on bad input."""

_SENTENCE_MARKS = ".!?…。！？"
_CLOSERS = "\"'”’)]"
# a phrase mark (and closing quotes or brackets) followed by whitespace: a possible phrase end
_PHRASE_END = re.compile(r"[" + re.escape(_SENTENCE_MARKS + _CLAUSE_MARKS) + r"][" + re.escape(_CLOSERS)
                         + r"]{0,3}(?=\s)|(?<=\S)(?=\n[ \t]{0,100}\n)")
_WORD_END = re.compile(r"(?<=\S)(?=\s)")
_NEXT_WORD = re.compile(r"\s{1,10000}\S{1,10000}\s")  # a whole word after the cut: its context is known
_SPACES = re.compile(r"\s+")
WINDOW = 600  # characters read on each side of a cut: normalization looks a few words around a token
TRIES = 8  # cuts tried, from the last one back


@dataclass(frozen=True)
class Part:
    """``text[start:end]`` of the stream, and what follows it: ``clause``, ``sentence`` or
    ``paragraph`` (a phrase end), ``word`` (cut between words inside a phrase) or ``end``."""

    start: int
    end: int
    boundary: Boundary


def boundary_after(reading: str, following: str = "") -> Boundary:
    """The boundary at the end of a reading: ``paragraph`` when a blank line follows, else by its
    last mark (``sentence``, ``clause``), else ``word``."""
    if re.match(r"[ \t]{0,100}\n[ \t]{0,100}\n", following):
        return "paragraph"
    last = reading.rstrip().rstrip(_CLOSERS)[-1:]
    if last and last in _SENTENCE_MARKS:
        return "sentence"
    if last and last in _CLAUSE_MARKS:
        return "clause"
    return "word"


def _collapsed(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


class TextStream:
    """The text received so far and how much of it has been given out as parts."""

    def __init__(self, read: Reading) -> None:
        self._read = read
        self._pieces: list[str] = []
        self._text = ""
        self.cut = 0  # text before this offset has been given out

    # -- the text ----------------------------------------------------------------------------
    @property
    def text(self) -> str:
        if self._pieces:
            self._text += "".join(self._pieces)
            self._pieces.clear()
        return self._text

    @property
    def pending(self) -> int:
        """Characters received and not given out yet."""
        return len(self._text) + sum(len(p) for p in self._pieces) - self.cut

    def append(self, piece: str) -> None:
        if piece:
            self._pieces.append(piece)

    # -- cuts --------------------------------------------------------------------------------
    def take_phrases(self) -> Part | None:
        """Everything up to the last safe phrase end (sentence, clause or paragraph), or None."""
        return self._take(_PHRASE_END, phrase=True)

    def take_words(self, min_chars: int = 0) -> Part | None:
        """Everything up to the last safe cut between words that leaves at least ``min_chars``
        characters in the part (a length schedule, a request to start now), or None."""
        return self._take(_WORD_END, phrase=False, min_chars=min_chars)

    def take_settled(self) -> Part | None:
        """The sender has paused (a language model calling a tool, say): everything pending if, as
        read, it ends a phrase (a sentence or clause mark at its end), else None (a word may still
        be on its way). Without a word after it, the last mark is taken as it reads now."""
        text = self.text
        if not text[self.cut:].strip():
            return None
        try:
            boundary = boundary_after(self._read(text[max(self.cut, len(text) - WINDOW):]))
        except Exception:
            return None
        if boundary == "word":
            return None
        start, self.cut = self.cut, len(text)
        return Part(start, len(text), boundary)

    def take_all(self, *, final: bool = False) -> Part | None:
        """Everything pending (the sender says it is complete: a flush, the end of its input); the
        boundary is ``end`` when nothing more can follow, else what the text's reading ends with."""
        text = self.text
        if self.cut >= len(text):
            return None
        start, self.cut = self.cut, len(text)
        if final or not text[start:].strip():
            return Part(start, len(text), "end")
        try:
            boundary = boundary_after(self._read(text[start:]))
        except Exception:  # read again (and refused with its error) when the part is synthesized
            boundary = "word"
        return Part(start, len(text), boundary)

    def _take(self, candidates: re.Pattern[str], *, phrase: bool, min_chars: int = 0) -> Part | None:
        text = self.text
        start = self.cut
        # only cuts with a whole word after them: what follows the last whole word may still change
        tail = re.search(r"\s\S*$", text[start:])
        horizon = start + tail.start() if tail else start
        cuts = [m.end() for m in candidates.finditer(text, start, horizon)
                if m.end() - start >= max(min_chars, 1) and _NEXT_WORD.match(text, m.end())]
        if not cuts:
            return None
        for cut in reversed(cuts[-TRIES:]):  # the last safe one
            left = max(start, cut - WINDOW)
            left = text.find(" ", left, cut) + 1 if left > start and " " in text[left:cut] else left
            right = min(horizon, cut + WINDOW)
            right = text.rfind(" ", cut + 1, right) if right < horizon and " " in text[cut + 1:right] else right
            boundary = self._safe(text[left:right], cut - left, phrase)
            if boundary is not None:
                self.cut = cut
                return Part(start, cut, boundary)
        return None

    def _safe(self, text: str, cut: int, phrase: bool) -> Boundary | None:
        """The boundary at ``cut`` if reading ``text`` cut there gives what reading it whole gives
        (for a phrase end: and the left side's reading ends with a phrase mark); else None."""
        try:
            left, right, whole = self._read(text[:cut]), self._read(text[cut:]), self._read(text)
        except Exception:
            return None
        if _collapsed(f"{left} {right}") != _collapsed(whole):
            return None
        boundary = boundary_after(left, text[cut:])
        if phrase and boundary == "word":
            return None
        return boundary if phrase else "word"
