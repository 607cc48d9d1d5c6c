"""Split long text into model-sized chunks at sentence and clause boundaries, lazily.

Pure logic over two callables (phonemize, tokenize), so memory stays flat for book-length input:
text is consumed sentence by sentence and chunks are yielded as soon as they are complete.
The first chunk is deliberately short (a clause) so streamed audio starts early; later chunks
group whole sentences up to a larger token budget, well below the model's 510-token limit.
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
    first_tokens: int = 40  # the first chunk ends at the first clause boundary past ~this size
    target_tokens: int = 250  # later chunks group sentences up to this size
    max_tokens: int = 500  # hard limit per chunk (the model takes 510)


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


def split_words(text: str, pieces: int) -> list[str]:
    words = text.split()
    if len(words) <= 1:
        size = max(1, -(-len(text) // max(pieces, 1)))
        return [text[i:i + size] for i in range(0, len(text), size)]
    per_piece = -(-len(words) // pieces)
    return [" ".join(words[i:i + per_piece]) for i in range(0, len(words), per_piece)]


class Chunker:
    def __init__(self, phonemize: Callable[[str], str], tokenize: Callable[[str], list[int]],
                 plan: ChunkPlan = ChunkPlan()) -> None:
        self._phonemize = phonemize
        self._tokenize = tokenize
        self._plan = plan

    def _pieces(self, text: str, boundary: Boundary) -> Iterator[tuple[str, str, list[int], Boundary]]:
        """A sentence as (text, phonemes, tokens, boundary) pieces that each fit ``max_tokens``."""
        phonemes = self._phonemize(text)
        tokens = self._tokenize(phonemes)
        if len(tokens) <= self._plan.max_tokens:
            yield text, phonemes, tokens, boundary
            return
        clauses = split_clauses(text)
        if len(clauses) <= 1:
            halves = split_words(text, 2)
            if len(halves) <= 1:  # one giant "word": cut phonemes directly
                for start in range(0, len(tokens), self._plan.max_tokens):
                    last = start + self._plan.max_tokens >= len(tokens)
                    yield text, phonemes, tokens[start:start + self._plan.max_tokens], boundary if last else "clause"
                return
            clauses = halves
        for i, clause in enumerate(clauses):
            yield from self._pieces(clause, boundary if i == len(clauses) - 1 else "clause")

    def _first_pieces(self, text: str, boundary: Boundary) -> Iterator[tuple[str, str, list[int], Boundary]]:
        """Like ``_pieces``, but a long first sentence is cut after its first clause(s)."""
        clauses = split_clauses(text)
        if len(clauses) <= 1:
            yield from self._pieces(text, boundary)
            return
        head: list[str] = []
        for i, clause in enumerate(clauses):
            head.append(clause)
            head_text = " ".join(head)
            if len(self._tokenize(self._phonemize(head_text))) >= self._plan.first_tokens or i == len(clauses) - 1:
                rest = " ".join(clauses[i + 1:])
                yield from self._pieces(head_text, "clause" if rest else boundary)
                if rest:
                    yield from self._pieces(rest, boundary)
                return

    def chunks(self, sentences: Iterable[Sentence]) -> Iterator[Chunk]:
        index = 0
        buffer: list[tuple[str, str, list[int], Boundary]] = []
        size = 0
        first = True

        def flush() -> Chunk:
            nonlocal index, buffer, size
            text = " ".join(p[0] for p in buffer)
            phonemes = " ".join(p[1] for p in buffer)
            tokens: list[int] = []
            space = self._tokenize(" ")
            for i, piece in enumerate(buffer):
                if i:
                    tokens.extend(space)
                tokens.extend(piece[2])
            chunk = Chunk(text, phonemes, tokens, buffer[-1][3], index)
            index += 1
            buffer, size = [], 0
            return chunk

        for sentence in sentences:
            pieces = self._first_pieces(sentence.text, sentence.boundary) if first else \
                self._pieces(sentence.text, sentence.boundary)
            for piece in pieces:
                if not piece[2] or not any(ch.isalpha() for ch in piece[1]):
                    continue  # nothing to say (punctuation or symbols only)
                if first:
                    buffer.append(piece)
                    yield flush()
                    first = False
                    continue
                if buffer and (size + len(piece[2]) + 1 > self._plan.target_tokens
                               or buffer[-1][3] == "paragraph"):
                    yield flush()
                buffer.append(piece)
                size += len(piece[2]) + (1 if size else 0)
        if buffer:
            yield flush()
