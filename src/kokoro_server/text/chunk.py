"""Split long text into model-sized chunks at sentence and clause boundaries, lazily.

Pure logic over two callables (phonemize, tokenize), so memory stays flat for book-length input:
text is consumed sentence by sentence and chunks are yielded as soon as they are complete.
The first chunk is deliberately short (a clause or phrase) so streamed audio starts early; each
later chunk may be larger than the one before (``growth``) up to ``target_tokens``, so every chunk is
synthesized before the audio already sent has finished playing (the engine runs about 1.7 tokens of
audio per token of compute time on a CPU), and playback does not stall. Chunks never exceed the
model's limit; long sentences are cut at clause marks, then before a function word ("and", "which",
"with"...), and only as a last resort between arbitrary words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

Boundary = Literal["clause", "sentence", "paragraph", "end"]

PAUSE_SECONDS: dict[str, float] = {"clause": 0.0, "sentence": 0.1, "paragraph": 0.3, "end": 0.0}

_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]{0,3}\s{1,10000}|\n\s{0,10000}\n\s{0,10000}|\n")
_CLAUSE_END = re.compile(r"(?<=[,;:—–])\s{1,100}")


@dataclass(frozen=True)
class Sentence:
    text: str
    boundary: Boundary  # what follows it


@dataclass(frozen=True)
class Chunk:
    text: str
    phonemes: str
    tokens: list[int]
    boundary: Boundary  # what follows this chunk: decides the pause after its audio
    index: int

    @property
    def pause_seconds(self) -> float:
        return PAUSE_SECONDS[self.boundary]


@dataclass(frozen=True)
class ChunkPlan:
    first_tokens: int = 24  # budget of the first chunk: a phrase, about 1.5 s of audio
    growth: float = 1.6  # each chunk's budget is at most this times the previous one's
    target_tokens: int = 250  # budget once grown: several sentences per model call
    max_tokens: int = 500  # hard limit per chunk (the model takes 510)

    def budget(self, index: int) -> int:
        return min(self.target_tokens, int(self.first_tokens * self.growth ** index))


PHRASE_STARTERS = frozenset(
    "and but or nor so yet because that which who whom whose when while where whereas if unless "
    "although though as since until after before with without for from in on at to of into onto "
    "about through during like than then along towards toward across over under behind between upon "
    "around against near beside beyond within".split())

Piece = tuple[str, str, list[int], Boundary]  # text, phonemes, tokens, what follows


def split_sentences(text: str) -> Iterator[Sentence]:
    """Yield sentences with the kind of break after each (sentence, paragraph, end)."""
    position = 0
    for match in _SENTENCE_END.finditer(text):
        piece = text[position:match.start()].strip()
        separator = match.group(0)
        position = match.end()
        if piece:
            yield Sentence(piece, "paragraph" if separator.count("\n") >= 2 else "sentence")
    tail = text[position:].strip()
    if tail:
        yield Sentence(tail, "end")


def split_clauses(text: str) -> list[str]:
    parts = [p.strip() for p in _CLAUSE_END.split(text)]
    return [p for p in parts if p]


def split_phrase(text: str, fraction: float) -> tuple[str, str] | None:
    """Cut ``text`` in two before a function word, as near ``fraction`` of its length as possible;
    with no such word, between the two words nearest that point. None for a single word."""
    words = text.split()
    if len(words) < 2:
        return None
    goal = fraction * len(text)
    offsets = []
    position = 0
    for word in words:
        position = text.index(word, position)
        offsets.append(position)
        position += len(word)
    phrases = [i for i in range(2, len(words) - 1) if words[i].lower().strip("\"'(") in PHRASE_STARTERS
               and goal / 2 <= offsets[i] <= goal * 1.6]
    candidates = phrases or list(range(1, len(words)))
    cut = min(candidates, key=lambda i: abs(offsets[i] - goal))
    return " ".join(words[:cut]), " ".join(words[cut:])


class Chunker:
    def __init__(self, phonemize: Callable[[str], str], tokenize: Callable[[str], list[int]],
                 plan: ChunkPlan = ChunkPlan()) -> None:
        self._phonemize = phonemize
        self._tokenize = tokenize
        self._plan = plan

    def _piece(self, text: str, boundary: Boundary) -> Piece:
        phonemes = self._phonemize(text)
        return text, phonemes, self._tokenize(phonemes), boundary

    def _fit(self, piece: Piece, limit: int) -> Iterator[Piece]:
        """Cut a piece into pieces of at most ``limit`` tokens where it can be cut naturally.

        Clause marks first; then before a function word. Past ``max_tokens`` anything goes
        (words, and for one giant word the tokens themselves).
        """
        text, _, tokens, boundary = piece
        if len(tokens) <= limit:
            yield piece
            return
        hard = len(tokens) > self._plan.max_tokens
        clauses = split_clauses(text)
        if len(clauses) > 1:
            for i, clause in enumerate(clauses):
                yield from self._fit(self._piece(clause, boundary if i == len(clauses) - 1 else "clause"), limit)
            return
        halves = split_phrase(text, limit / len(tokens))
        if halves is not None and (hard or len(tokens) > 1.5 * limit):
            head, tail = halves
            yield from self._fit(self._piece(head, "clause"), limit)
            # the rest goes into later chunks, whose budgets are larger
            yield from self._fit(self._piece(tail, boundary), min(int(limit * self._plan.growth), self._plan.max_tokens))
            return
        if not hard:
            yield piece  # a little over a soft budget beats an unnatural cut
            return
        if halves is None:  # one giant "word": cut the tokens
            step = self._plan.max_tokens
            for start in range(0, len(tokens), step):
                last = start + step >= len(tokens)
                part = text[start * len(text) // len(tokens):(start + step) * len(text) // len(tokens)]
                yield part, piece[1], tokens[start:start + step], boundary if last else "clause"
            return
        for i, half in enumerate(halves):
            yield from self._fit(self._piece(half, "clause" if i == 0 else boundary), limit)

    def chunks(self, sentences: Iterable[Sentence]) -> Iterator[Chunk]:
        plan = self._plan
        index = 0
        buffer: list[Piece] = []
        size = 0
        space = self._tokenize(" ")

        def flush() -> Chunk:
            nonlocal index, buffer, size
            tokens: list[int] = []
            for i, piece in enumerate(buffer):
                if i:
                    tokens.extend(space)
                tokens.extend(piece[2])
            chunk = Chunk(" ".join(p[0] for p in buffer), " ".join(p[1] for p in buffer), tokens,
                          buffer[-1][3], index)
            index += 1
            buffer, size = [], 0
            return chunk

        for sentence in sentences:
            budget = plan.budget(index)
            limit = budget if budget < plan.target_tokens else plan.max_tokens
            for piece in self._fit(self._piece(sentence.text, sentence.boundary), limit):
                if not piece[2] or not any(ch.isalpha() for ch in piece[1]):
                    continue  # nothing to say (punctuation or symbols only)
                grown = size + len(space) + len(piece[2]) if buffer else len(piece[2])
                if buffer and (grown > plan.budget(index) or buffer[-1][3] == "paragraph"):
                    yield flush()
                    grown = len(piece[2])
                buffer.append(piece)
                size = grown
                if index == 0 and size >= plan.first_tokens // 2 and buffer[-1][3] != "sentence":
                    yield flush()  # the first chunk goes out as soon as it holds a phrase
        if buffer:
            yield flush()
