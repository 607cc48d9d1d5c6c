"""A chapter's text cut into job chunks: the unit that is synthesized, written and recorded at once.

A job chunk is a run of whole sentences of one paragraph, at most :data:`CHUNK_CHARS` characters (a
longer sentence is cut at a clause mark or between words), so it is one model call as a rule and a
crash loses at most that much. The plan depends on the text alone and is stored with the job, so a
resumed job (even after an upgrade) continues exactly where it stopped.

>>> [(p.start, p.end, p.boundary) for p in plan_chapter("One. Two.\\n\\nThree.")]
[(0, 9, 'paragraph'), (11, 17, 'end')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kokoro_server.text.chunk import PAUSE_SECONDS, Boundary, ChunkRules, cap_pieces, split_sentences

CHUNK_CHARS = 300  # about 250-300 phoneme tokens of English: one model call, about 15-20 s of speech
SPEAKABLE = re.compile(r"\w")


@dataclass(frozen=True)
class PlannedChunk:
    start: int  # characters of the chapter text, end exclusive
    end: int
    boundary: Boundary  # what follows: sets the pause after it

    def pause_seconds(self, speed: float) -> float:
        return PAUSE_SECONDS[self.boundary] / speed


def plan_chapter(text: str, limit: int = CHUNK_CHARS, rules: ChunkRules = ChunkRules()) -> list[PlannedChunk]:
    """``rules``: where the book's language may cut a long sentence (its pack's ``chunking``)."""
    pieces: list[PlannedChunk] = []
    current: tuple[int, int] | None = None

    def close(boundary: Boundary) -> None:
        nonlocal current
        if current is not None:
            start, end = current
            if SPEAKABLE.search(text, start, end):
                pieces.append(PlannedChunk(start, end, boundary))
            elif pieces and _rank(boundary) > _rank(pieces[-1].boundary):  # "* * *": its pause only
                pieces[-1] = PlannedChunk(pieces[-1].start, pieces[-1].end, boundary)
        current = None

    for sentence in split_sentences(text):
        start, end = sentence.start, sentence.start + len(sentence.text)
        if end - start > limit:
            close("sentence")
            cuts = list(cap_pieces(sentence.text, limit, rules))
            for n, (a, b) in enumerate(cuts):
                last = n == len(cuts) - 1
                current = (start + a, start + b)
                close(sentence.boundary if last else ("clause" if sentence.text[b - 1] in rules.clause_marks else "word"))
            continue
        if current is not None and end - current[0] > limit:
            close("sentence")
        current = (current[0] if current else start, end)
        if sentence.boundary in ("paragraph", "end"):
            close(sentence.boundary)
    close("end")
    return pieces


def _rank(boundary: Boundary) -> int:
    return ("word", "clause", "sentence", "paragraph", "end").index(boundary)
