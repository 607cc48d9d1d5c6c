"""Turn a document into model-sized chunks at sentence and clause boundaries, lazily, in linear time.

Pure logic over two callables (phonemize, tokenize), so memory stays flat for book-length input:
text is consumed sentence by sentence and chunks are yielded as soon as they are complete.

Text is cut *before* it is phonemized: sentences, and pieces of at most ``MAX_PIECE_CHARS`` characters
(cut at a clause mark, else before a function word, else between words, else anywhere), so each
character goes through the phonemizer once and no call holds a shared front end for long. The
phonemizer reads a piece word by word (:mod:`kokoro_server.text.words`), and all later cutting is done
on those words, never by phonemizing again.

The first chunk is deliberately short (a clause or phrase) so streamed audio starts early; each
later chunk may be larger than the one before (``growth``) up to ``target_tokens``, so every chunk is
synthesized before the audio already sent has finished playing (the engine runs about 1.7 tokens of
audio per token of compute time on a CPU), and playback does not stall. Chunks never exceed the
model's limit; long sentences are cut at clause marks, then before a function word ("and", "which",
"with"...), and only as a last resort between arbitrary words.

Each chunk lists its words (:class:`Word`): the text as written in the request input, its span there,
and which of the chunk's tokens speak it.

The chunker knows no language: which words start a phrase, which lead into the next word and which
marks end a clause are a :class:`ChunkRules` from the language's pack, and a document whose parts are
in several languages (a text segment's ``lang``) is read part by part with each language's
phonemizer and rules (``front_end``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Literal

from kokoro_server.errors import InvalidInputError, KokoroError
from kokoro_server.text.document import (Break, Document, Pause, Phonemes, Segment, SpeedChange, Stressed, Text,
                                         VoiceChange)
from kokoro_server.text.words import Token, phonemize_words

Boundary = Literal["word", "clause", "sentence", "paragraph", "end"]  # "word": cut inside a phrase

# Silence after a chunk, besides the edge margins the service keeps (0.1 s together, see
# audio/silence.py): gaps as long as the model's own inside one chunk (about 0.2 s at a comma,
# 0.4 s after a sentence), longer between paragraphs, a word's gap where a phrase was cut.
PAUSE_SECONDS: dict[str, float] = {"word": 0.0, "clause": 0.1, "sentence": 0.3, "paragraph": 0.6, "end": 0.0}
MAX_PIECE_CHARS = 400  # the most text one phonemizer call reads
SOFT_OVER = 1.5  # a piece may pass its chunk's token budget by this factor rather than be cut unnaturally

_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]{0,3}\s{1,10000}|\n\s{0,10000}\n\s{0,10000}|\n")
_CLAUSE_END = re.compile(r"(?<=[,;:—–、，；：])\s{0,100}")
_CLAUSE_MARKS = ",;:—–、，；："


@dataclass(frozen=True)
class Sentence:
    text: str
    boundary: Boundary  # what follows it
    start: int = 0  # where ``text`` starts in the text it was split from


@dataclass(frozen=True)
class Word:
    text: str  # the word as written in the request input (before normalization), e.g. "$5"
    start: int  # character offsets in the request input (end exclusive)
    end: int
    token_start: int  # its phoneme tokens are chunk.tokens[token_start:token_end] (no pad tokens)
    token_end: int


@dataclass(frozen=True)
class Chunk:
    text: str
    phonemes: str
    tokens: list[int]
    boundary: Boundary  # what follows this chunk: decides the pause after its audio
    index: int
    words: tuple[Word, ...] = ()
    pause: float = 0.0  # markup pause after it: exactly this many seconds at any speed (0: the boundary's)
    voice: str | None = None  # a markup voice change: the voice (or mix) speaking it; None: the request's
    rate: float = 1.0  # a markup speed change: times the request's speed

    @property
    def pause_seconds(self) -> float:
        """Silence after this chunk at speed 1."""
        return self.pause or PAUSE_SECONDS[self.boundary]

    def silence_after(self, speed: float) -> float:
        """Seconds of silence after this chunk's audio when spoken at ``speed`` (markup pauses are exact)."""
        return self.pause or PAUSE_SECONDS[self.boundary] / (speed * self.rate)


@dataclass(frozen=True)
class ChunkPlan:
    first_tokens: int = 24  # budget of the first chunk: a phrase, about 1.5 s of audio
    growth: float = 1.6  # each chunk's budget is at most this times the previous one's
    target_tokens: int = 250  # budget once grown: several sentences per model call
    max_tokens: int = 500  # hard limit per chunk (the model takes 510)

    def budget(self, index: int) -> int:
        if index >= 64:  # grown long ago (and growth ** index would overflow)
            return self.target_tokens
        return min(self.target_tokens, int(self.first_tokens * self.growth ** index))


@dataclass(frozen=True)
class ChunkRules:
    """Where one language's sentences may be cut, from its language pack: after its clause marks,
    before a word that starts a phrase ("and", "which", "with"), never right after a word that leads
    into the next one ("the | forest"). Words are matched in lower case. The default knows no words."""

    phrase_starters: frozenset[str] = frozenset()
    leading_words: frozenset[str] = frozenset()  # the phrase starters are leading words too
    clause_marks: str = _CLAUSE_MARKS

    @cached_property
    def phrase_start(self) -> re.Pattern[str] | None:
        """A space before a phrase starter (None: no phrase starters)."""
        if not self.phrase_starters:
            return None
        words = "|".join(re.escape(w) for w in sorted(self.phrase_starters))
        return re.compile(r"\s(?=(?:" + words + r")\b)", re.IGNORECASE)

    @cached_property
    def leading(self) -> frozenset[str]:
        return self.phrase_starters | self.leading_words


def split_sentences(text: str) -> Iterator[Sentence]:
    """Yield sentences with the kind of break after each (sentence, paragraph, end)."""
    position = 0
    for match in _SENTENCE_END.finditer(text):
        raw = text[position:match.start()]
        piece = raw.strip()
        start = position + len(raw) - len(raw.lstrip())
        separator = match.group(0)
        position = match.end()
        if piece:
            yield Sentence(piece, "paragraph" if separator.count("\n") >= 2 else "sentence", start)
    raw = text[position:]
    tail = raw.strip()
    if tail:
        yield Sentence(tail, "end", position + len(raw) - len(raw.lstrip()))


def split_clauses(text: str) -> list[str]:
    parts = [p.strip() for p in _CLAUSE_END.split(text)]
    return [p for p in parts if p]


def cap_pieces(text: str, cap: int = MAX_PIECE_CHARS, rules: ChunkRules = ChunkRules()) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of consecutive pieces of ``text``, each at most ``cap`` characters: cut after
    a clause mark, else before a function word, else at a space (in the second half of the window),
    else exactly at ``cap``. Linear: each window is scanned once."""
    position = 0
    while len(text) - position > cap:
        window = text[position:position + cap]
        half = cap // 2
        cut = 0
        for mark in rules.clause_marks:
            at = window.rfind(mark, half)
            if at >= 0 and at + 1 < len(window) and window[at + 1].isspace():
                cut = max(cut, at + 1)
        if not cut and rules.phrase_start is not None:
            starts = [m.start() for m in rules.phrase_start.finditer(window, half)]
            cut = starts[-1] if starts else 0
        if not cut:
            at = max(window.rfind(" ", half), window.rfind("\n", half))
            cut = at if at > 0 else cap
        yield position, position + cut
        position += cut
        while position < len(text) and text[position].isspace():
            position += 1
    if position < len(text):
        yield position, len(text)


# -- units: the phonemized text, token by token -------------------------------------------------

@dataclass(frozen=True)
class _Unit:
    text: str  # as read (normalized); " " for the space between words
    phonemes: str
    tokens: tuple[int, ...]
    span: tuple[int, int] | None = None  # the span in the request input of the word it speaks

    @property
    def space(self) -> bool:
        return self.span is None and not self.text.strip()


@dataclass
class _Piece:
    units: list[_Unit]
    boundary: Boundary

    @property
    def size(self) -> int:
        return sum(len(u.tokens) for u in self.units)

    @property
    def text(self) -> str:
        return "".join(u.text for u in self.units)

    @property
    def phonemes(self) -> str:
        return "".join(u.phonemes for u in self.units)


@dataclass(frozen=True)
class _Control:
    segment: Pause | VoiceChange | SpeedChange


def _strip(units: list[_Unit]) -> list[_Unit]:
    start, end = 0, len(units)
    while start < end and units[start].space:
        start += 1
    while end > start and units[end - 1].space:
        end -= 1
    return units[start:end]


def _split_unit(unit: _Unit, take: int) -> tuple[_Unit | None, _Unit]:
    """The first ``take`` tokens of a unit and the rest, its text and phonemes shared out in proportion."""
    n = len(unit.tokens)
    if take <= 0:
        return None, unit
    text_at = take * len(unit.text) // n
    phonemes_at = take * len(unit.phonemes) // n
    return (replace(unit, text=unit.text[:text_at], phonemes=unit.phonemes[:phonemes_at], tokens=unit.tokens[:take]),
            replace(unit, text=unit.text[text_at:], phonemes=unit.phonemes[phonemes_at:], tokens=unit.tokens[take:]))


def _word_starts(units: list[_Unit]) -> list[int]:
    """Indices of units that start a word (the units of one written word, e.g. "$5" read as "five
    dollars", are never cut apart)."""
    starts = []
    previous = None
    for i, unit in enumerate(units):
        if unit.span is not None and unit.span != previous:
            starts.append(i)
        if not unit.space:
            previous = unit.span
    return starts


FrontEnd = Callable[[str], tuple[Callable[[str], str], ChunkRules]]
"""A language code -> that language's phonemizer and cut rules (a segment's ``lang`` picks them)."""


class Chunker:
    def __init__(self, phonemize: Callable[[str], str], tokenize: Callable[[str], list[int]],
                 plan: ChunkPlan = ChunkPlan(), rules: ChunkRules = ChunkRules(),
                 front_end: FrontEnd | None = None) -> None:
        self._phonemize = phonemize
        self._rules = rules
        self._default = (phonemize, rules)
        self._front_end = front_end
        self._tokenize = tokenize
        self._plan = plan
        self._space = tuple(tokenize(" "))

    def _language(self, lang: str | None) -> None:
        """Read what follows with the front end of ``lang`` (None: the chunker's own)."""
        self._phonemize, self._rules = self._front_end(lang) if lang and self._front_end else self._default

    # -- stage 1: segments -> phonemized sentences (and the pauses, voice and speed changes between them)
    def _read(self, text: str, at: int, locate: Callable[[int, int], tuple[int, int]], source: str) -> list[_Unit]:
        """Phonemize ``text`` (which starts at ``at`` in the segment's normalized text) into units."""
        try:
            tokens = phonemize_words(self._phonemize, text)
        except KokoroError:
            raise
        except Exception as exc:  # a front end choking on user text is the text's problem: 4xx
            start, end = locate(at, at + len(text))
            raise InvalidInputError(f"cannot read input characters {start}-{end} ({source[start:end][:60]!r}): "
                                    f"{type(exc).__name__}: {exc}", param="input") from None
        return [self._unit(text, token, at, locate, source) for token in tokens]

    def _unit(self, text: str, token: Token, at: int, locate: Callable[[int, int], tuple[int, int]],
              source: str) -> _Unit:
        piece = text[token.start:token.end]
        if not token.word:
            return _Unit(piece or token.phonemes, token.phonemes, tuple(self._tokenize(token.phonemes)))
        return _Unit(piece, token.phonemes, tuple(self._tokenize(token.phonemes)), locate(at + token.start, at + token.end))

    def _segment_units(self, segment: Text, source: str) -> Iterator[tuple[list[_Unit], Boundary]]:
        """A text segment's sentences (each cut into pieces of at most MAX_PIECE_CHARS), phonemized."""
        normalized = segment.normalized
        text = normalized.text if normalized is not None else segment.text
        if segment.substituted:
            locate = lambda a, b: (segment.start, segment.end)  # noqa: E731
        elif normalized is not None:
            locate = lambda a, b: tuple(segment.start + x for x in normalized.source_span(a, b))  # type: ignore[assignment]  # noqa: E731
        else:
            locate = lambda a, b: (segment.start + a, segment.start + b)  # noqa: E731
        for sentence in split_sentences(text):
            pieces = list(cap_pieces(sentence.text, rules=self._rules))
            for k, (a, b) in enumerate(pieces):
                units = self._read(sentence.text[a:b], sentence.start + a, locate, source)
                if k == len(pieces) - 1:
                    yield units, sentence.boundary
                else:
                    yield units, "clause" if sentence.text[a:b].rstrip()[-1:] in self._rules.clause_marks else "word"

    def _stressed(self, segment: Stressed, source: str) -> list[_Unit]:
        from misaki.en import apply_stress

        stress = int(segment.stress) if segment.stress == int(segment.stress) else segment.stress
        units = self._read(segment.text, 0, lambda a, b: (segment.start + a, segment.start + b), source)
        return [replace(u, phonemes=(p := apply_stress(u.phonemes, stress)), tokens=tuple(self._tokenize(p)))
                if u.span is not None else u for u in units]

    def _sentences(self, document: Document, segments: Iterable[Segment]) -> Iterator[_Piece | _Control]:
        pending: list[_Unit] = []

        def add(units: list[_Unit]) -> None:
            units = _strip(units)
            if not units:
                return
            if pending and units[0].span is not None:
                pending.append(_Unit(" ", " ", self._space))
            pending.extend(units)

        def close(boundary: Boundary) -> Iterator[_Piece]:
            nonlocal pending
            if pending:
                yield _Piece(pending, boundary)
            pending = []

        for segment in segments:
            if isinstance(segment, (Text, Stressed)):
                self._language(segment.lang)
            if isinstance(segment, Text):
                for units, boundary in self._segment_units(segment, document.source):
                    add(units)
                    if boundary != "end" or sum(len(u.text) for u in pending) > MAX_PIECE_CHARS:
                        yield from close(boundary if boundary != "end" else "clause")
            elif isinstance(segment, Phonemes):
                add([_Unit(segment.text, segment.phonemes, tuple(self._tokenize(segment.phonemes)),
                           (segment.start, segment.end))])
            elif isinstance(segment, Stressed):
                add(self._stressed(segment, document.source))
            elif isinstance(segment, Break):
                yield from close(segment.kind)
            else:
                yield from close("clause")
                yield _Control(segment)
            if sum(len(u.text) for u in pending) > MAX_PIECE_CHARS:
                yield from close("clause")
        yield from close("end")

    # -- stage 2: fit sentences into budgets, without phonemizing again
    def _fit(self, piece: _Piece, limit: int) -> Iterator[_Piece]:
        """Cut a piece into pieces of at most ``limit`` tokens where it can be cut naturally.

        Clause marks first; then before a function word. Past ``max_tokens`` anything goes
        (words, and for one giant word the tokens themselves). A piece with no word to cut at (one
        giant word, or one written word read as many: a long number, say-as characters, a phoneme
        string) is cut hard once it passes ``SOFT_OVER`` times the limit, so the first chunk stays
        small whatever the input.
        """
        size = piece.size
        if size <= limit:
            yield piece
            return
        hard = size > self._plan.max_tokens
        units = piece.units
        cuts = [i + 1 for i in range(len(units) - 1)
                if not units[i].space and units[i].text[-1:] in self._rules.clause_marks and units[i + 1].space]
        if cuts:
            bounds = [0, *cuts, len(units)]
            for k in range(len(bounds) - 1):
                part = _strip(units[bounds[k]:bounds[k + 1]])
                if part:
                    last = k == len(bounds) - 2
                    yield from self._fit(_Piece(part, piece.boundary if last else "clause"), limit)
            return
        halves = self._split_phrase(units, limit / size, self._rules)
        if halves is None and (hard or size > SOFT_OVER * limit):
            yield from self._cut_hard(piece, limit)
            return
        if halves is not None and (hard or size > SOFT_OVER * limit):
            head, tail = halves
            yield from self._fit(_Piece(head, "word"), limit)
            # the rest goes into later chunks, whose budgets are larger
            yield from self._fit(_Piece(tail, piece.boundary),
                                 min(int(limit * self._plan.growth), self._plan.max_tokens))
            return
        if not hard:
            yield piece  # a little over a soft budget beats an unnatural cut
            return
        for i, half in enumerate(halves):
            yield from self._fit(_Piece(half, "word" if i == 0 else piece.boundary), limit)

    @staticmethod
    def _split_phrase(units: list[_Unit], fraction: float,
                      rules: ChunkRules = ChunkRules()) -> tuple[list[_Unit], list[_Unit]] | None:
        """Cut before a function word, as near ``fraction`` of the text as possible; with no such
        word, between the two words nearest that point. None for a single word."""
        starts = _word_starts(units)
        if len(starts) < 2:
            return None
        offsets = []
        position = 0
        at = 0
        for i, unit in enumerate(units):
            if at < len(starts) and starts[at] == i:
                offsets.append(position)
                at += 1
            position += len(unit.text)
        goal = fraction * position
        words = [units[start].text.lower().strip("\"'(") for start in starts]
        phrases = [k for k in range(2, len(starts) - 1)
                   if words[k] in rules.phrase_starters and goal / 2 <= offsets[k] <= goal * 1.6]
        candidates = (phrases or [k for k in range(1, len(starts)) if words[k - 1] not in rules.leading]
                      or list(range(1, len(starts))))
        cut = starts[min(candidates, key=lambda k: abs(offsets[k] - goal))]
        return _strip(units[:cut]), _strip(units[cut:])

    def _cut_hard(self, piece: _Piece, limit: int) -> Iterator[_Piece]:
        """A piece with no word boundary to cut at, as pieces of at most ``limit`` tokens, the limit
        growing as chunk budgets do (up to ``max_tokens``): cut at the last space between units in
        the second half of the window, else inside a unit (its tokens, text and phonemes shared
        out). Lazy: a phoneme string of 100,000 symbols is cut as it is pulled."""
        queue = list(reversed(piece.units))  # popped from the end
        current: list[_Unit] = []
        size = 0
        while queue:
            unit = queue.pop()
            n = len(unit.tokens)
            if size + n <= limit:
                current.append(unit)
                size += n
                continue
            spaces = [i for i, u in enumerate(current) if u.space and i > 0]
            kept = sum(len(u.tokens) for u in current[:spaces[-1]]) if spaces else 0
            if spaces and kept > 0 and kept >= limit // 2:  # a space late enough in the window: cut there
                queue.append(unit)
                queue.extend(reversed(current[spaces[-1]:]))
                current = current[:spaces[-1]]
            else:  # cut the unit itself
                take = limit - size
                head, tail = _split_unit(unit, take)
                if head is not None:
                    current.append(head)
                queue.append(tail)
            part = _strip(current)
            if part:
                yield _Piece(part, "word")
            current, size = [], 0
            limit = min(max(int(limit * self._plan.growth), limit + 1), self._plan.max_tokens)
        part = _strip(current)
        if part:
            yield _Piece(part, piece.boundary)

    def _chunk(self, pieces: list[_Piece], index: int, source: str, voice: str | None, rate: float) -> Chunk:
        tokens: list[int] = []
        words: list[Word] = []
        for i, piece in enumerate(pieces):
            if i:
                tokens.extend(self._space)
            for unit in piece.units:
                begin = len(tokens)
                tokens.extend(unit.tokens)
                if unit.span is None or begin == len(tokens):
                    continue
                last = words[-1] if words else None
                if last is not None and (last.start, last.end) == unit.span:  # one written word, read as several
                    words[-1] = replace(last, token_end=len(tokens))
                else:
                    words.append(Word(source[unit.span[0]:unit.span[1]], unit.span[0], unit.span[1], begin, len(tokens)))
        return Chunk(" ".join(p.text for p in pieces), " ".join(p.phonemes for p in pieces), tokens,
                     pieces[-1].boundary, index, tuple(words), voice=voice, rate=rate)

    def chunks(self, document: Document, segments: Iterable[Segment] | None = None) -> Iterator[Chunk]:
        """The document's chunks, in order, produced as they are pulled. ``segments``: the document's
        segments as they should be read (e.g. normalized lazily), if not ``document.segments``."""
        plan = self._plan
        index = 0
        buffer: list[_Piece] = []
        size = 0
        space = len(self._space)
        voice: str | None = None
        rate = 1.0
        early = False  # the first chunk holds a phrase: it goes out before anything is added to it

        def flush(pause: float = 0.0) -> Chunk:
            nonlocal index, buffer, size, early
            chunk = self._chunk(buffer, index, document.source, voice, rate)
            if pause:
                chunk = replace(chunk, pause=pause)
            index += 1
            buffer, size, early = [], 0, False
            return chunk

        for item in self._sentences(document, document.segments if segments is None else segments):
            if isinstance(item, _Control):
                segment = item.segment
                if isinstance(segment, Pause):
                    if buffer:
                        yield flush(segment.seconds)
                    else:  # nothing before it to attach it to: a chunk of silence
                        yield Chunk("", "", [], "clause", index, pause=segment.seconds, voice=voice, rate=rate)
                        index += 1
                    continue
                if buffer:
                    yield flush()
                if isinstance(segment, VoiceChange):
                    voice = segment.voice
                else:
                    rate = segment.rate
                continue
            budget = plan.budget(index)
            limit = budget if budget < plan.target_tokens else plan.max_tokens
            for piece in self._fit(item, limit):
                if not piece.size or not any(ch.isalpha() for ch in piece.phonemes):
                    continue  # nothing to say (punctuation or symbols only)
                if early:
                    yield flush()
                grown = size + space + piece.size if buffer else piece.size
                if buffer and (grown > plan.budget(index) or buffer[-1].boundary == "paragraph"):
                    yield flush()
                    grown = piece.size
                buffer.append(piece)
                size = grown
                if index == 0 and size >= plan.first_tokens // 2 and buffer[-1].boundary != "sentence":
                    early = True  # the first chunk goes out as soon as it holds a phrase
        if buffer:
            yield flush()
