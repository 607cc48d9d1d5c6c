"""Speech for text that is still arriving: the one adapter between the voice-agent dialects
(ElevenLabs' WebSockets and REST routes, Wyoming) and the speech service with its admission queue.

A :class:`LiveSpeech` is one stream of text in and audio out (a WebSocket context, a Wyoming
``synthesize-start`` .. ``synthesize-stop``, one REST request). Text is appended as it comes; the
streaming text buffer (:mod:`kokoro_server.text.incremental`) cuts off every complete phrase (or what
the caller asks for: a flush, a length, the end) where the cut changes nothing in how the text is
read. Cut-off parts wait in order; whenever there are some and none is being spoken, a *run* is
admitted through the same queue as every HTTP request (:class:`SynthesisRunner`) and speaks them.
Each run is a :class:`~kokoro_server.serving.session.SpeechSession` (opened with the stream's
prepared request, whose ``chunk_source`` hands it the parts) that encodes with the stream's one
:class:`~kokoro_server.serving.session.HeldEncoder`: admission, the first-chunk and error rules, word
timestamps, usage and closing are the session's. A run takes every part that is waiting when it
needs its next chunk, so the chunker groups them
exactly as it groups the same text in one request (its plan goes on growing from chunk to chunk
across runs); it ends when it has caught up with the text, so no slot is held while the sender is
still typing. Voice and speed changes of the markup carry on from part to part.

What is the same as for a whole request: the text front end (markup, lexicon, normalization,
chunker), the boundaries' pauses (a part that ends at a clause, sentence or paragraph keeps that
boundary's pause), voice, speed and the word timings; text that is all there when a run takes it is
chunked as one request's text. Where the sender is slower than synthesis, chunks end at the phrase
that was complete when the synthesis caught up, where a whole request might have put more into one
chunk.

Bounds: the stream's text is at most KOKORO_MAX_INPUT_CHARS (the dialects check it as it arrives),
and its audio is the request budget's (KOKORO_MAX_AUDIO_SECONDS, KOKORO_MAX_PAUSE_SECONDS): each part
is estimated as it is cut off (:class:`~kokoro_server.budget.StreamBudget`), and the part that takes
the stream past the budget is refused with :class:`~kokoro_server.errors.AudioTooLongError`.

Stopping is cancelling the task that iterates :meth:`LiveSpeech.chunks`: a run waiting for a slot
is dropped, a running one stops after the chunk in progress (the runner's rule), and nothing else is
synthesized. The dialects only use this module.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field, replace

import numpy as np
from anyio import to_thread

from kokoro_server import SAMPLE_RATE
from kokoro_server.audio.encoders import AudioFormat
from kokoro_server.budget import StreamBudget
from kokoro_server.errors import InvalidInputError, KokoroError, TimestampsUnavailableError
from kokoro_server.languages import read_languages
from kokoro_server.service import PreparedSpeech, SpeechRequest, SpeechService
from kokoro_server.serving.session import HeldEncoder, SessionOptions, Sessions, Usage
from kokoro_server.text.chunk import Chunk, ChunkPlan
from kokoro_server.text.clean import clean_input
from kokoro_server.text.document import (Break, Document, Pause, Phonemes, Segment, SpeedChange, Stressed, Text,
                                         VoiceChange)
from kokoro_server.text.incremental import Part, Reading, TextStream
from kokoro_server.text.markup import parse
from kokoro_server.text.normalize import DEFAULT_OPTIONS, NormalizationOptions
from kokoro_server.timestamps import WordTime

log = logging.getLogger("kokoro_server.live")

_NOTHING_TO_SAY = ("input has nothing to speak", "input has no speakable text")
SETTLE_S = 0.6  # text this long without more is taken as it reads now if it ends a phrase
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class LiveOptions:
    voice: str | None = None  # a voice, a mix or None (the default voice)
    model: str | None = None
    speed: float = 1.0
    lang: str | None = None  # one-letter Kokoro code; None: the voice's
    normalization: NormalizationOptions = DEFAULT_OPTIONS
    markup: bool = True  # inline markup ([pause:1s], [voice:x]); SSML is not read from a stream
    timestamps: bool = True  # word timings (skipped without a word on it if the model cannot give them)
    plan: ChunkPlan = field(default_factory=ChunkPlan)


@dataclass(frozen=True)
class Spoken:
    """A word as it is read (after normalization) and the span of the stream's text it reads."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class SpokenChunk:
    """One chunk's audio, encoded, and what it says. ``words`` are timed from this chunk's start,
    their character offsets are in the stream's text (None: the model gave no durations)."""

    data: bytes
    samples: int  # at 24 kHz, pause after the chunk included
    words: tuple[WordTime, ...] | None
    spoken: tuple[Spoken, ...] = ()  # the part's readings (all of the part this chunk belongs to)
    part_end: int = 0  # where the text of this chunk's part ends in the stream's text
    final: bool = False  # the encoder's tail after the last chunk (no audio samples of its own)

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE


@dataclass(frozen=True)
class _Batch:
    part: Part
    text: str


def reading(service: SpeechService, lang: str, options: NormalizationOptions, markup: bool = True) -> Reading:
    """How a piece of text will be read (markup parsed, normalized) as one comparable string: the
    streaming buffer cuts only where the two sides read as the whole does."""

    def read(text: str) -> str:
        document = read_languages(parse(clean_input(text), markup=markup, input_format="text"), lang, pinned=True)
        document = service.normalized(document, options, lang)
        return " ".join(_fingerprint(s) for s in document.segments)

    return read


def _fingerprint(segment: Segment) -> str:
    if isinstance(segment, Text):
        return segment.normalized.text if segment.normalized is not None else segment.text
    if isinstance(segment, Phonemes):
        return f"\x00/{segment.phonemes}/"
    if isinstance(segment, Stressed):
        return f"\x00{segment.text}({segment.stress})"
    if isinstance(segment, Pause):
        return f"\x00pause{segment.seconds}"
    if isinstance(segment, Break):
        return f"\x00{segment.kind}"
    if isinstance(segment, VoiceChange):
        return f"\x00voice{segment.voice}"
    return f"\x00speed{segment.rate}"


def readings(document: Document, offset: int) -> tuple[Spoken, ...]:
    """The words of a document as read (normalized), each with its span of the stream's text."""
    spoken: list[Spoken] = []
    for segment in document.segments:
        if isinstance(segment, Text):
            normalized = segment.normalized
            text = normalized.text if normalized is not None else segment.text
            for match in _TOKEN.finditer(text):
                if segment.substituted:
                    start, end = segment.start, segment.end
                elif normalized is not None:
                    a, b = normalized.source_span(match.start(), match.end())
                    start, end = segment.start + a, segment.start + b
                else:
                    start, end = segment.start + match.start(), segment.start + match.end()
                spoken.append(Spoken(match.group(0), offset + start, offset + end))
        elif isinstance(segment, (Phonemes, Stressed)):
            spoken.append(Spoken(segment.text, offset + segment.start, offset + segment.end))
    return tuple(spoken)


class LiveSpeech:
    """Text in as it arrives, audio out chunk by chunk, through the server's admission queue."""

    def __init__(self, sessions: Sessions, fmt: AudioFormat, options: LiveOptions, *, request_id: str,
                 volume: float = 1.0) -> None:
        self.sessions = sessions
        self.service: SpeechService = sessions.service
        self.options = options
        self.request_id = request_id
        self.format = fmt
        self._session_options = SessionOptions(fmt, volume, "timestamps" if options.timestamps else None)
        settings = self.service.settings
        self._budget = StreamBudget(settings.max_audio_seconds, settings.max_pause_seconds, options.speed)
        self._refused: KokoroError | None = None  # a part refused where nobody could be told (a timer)
        self.usage = Usage(0, 0, 0.0)  # the runs' usage, added up
        self._prepared: PreparedSpeech | None = None
        self._stream: TextStream | None = None
        self._parts: deque[_Batch] = deque()  # cut off, not yet chunked (appended here, taken by a run)
        self._meta: deque[tuple[tuple[Spoken, ...], int]] = deque()  # per chunk made: readings, part end
        self._lock = threading.Lock()
        self._wake = asyncio.Event()
        self._finished = False
        self._runs = 0
        self._running = False
        self._settle: asyncio.TimerHandle | None = None
        self._index = 0  # chunks made so far (the plan's position)
        self._voice: str | None = None  # markup voice and speed changes in effect after the parts so far
        self._rate = 1.0
        self._packs: dict[str, np.ndarray] = {}
        self.chunks_made = 0
        self.spoken_text = ""  # the text handed to synthesis so far (parts are consecutive from 0)

    # -- set-up ------------------------------------------------------------------------------
    async def open(self) -> None:
        """Check the voice, model, language and speed before any text arrives (their errors are the
        request's); without durations from the model, words are not timed."""
        options = self.options
        probe = self.sessions.open(SpeechRequest(
            text=".", voice=options.voice, model=options.model, speed=options.speed, lang=options.lang,
            normalization=options.normalization, input_format="text"), self._session_options)
        prepared = await probe.prepare()
        if self._session_options.timestamps:
            try:
                await probe.require_timestamps()
            except TimestampsUnavailableError:
                self._session_options = replace(self._session_options, timestamps=None)
        self._prepared = replace(prepared, packs=self._packs, chunk_source=self._chunk_source)
        self._stream = TextStream(reading(self.service, prepared.lang, options.normalization, options.markup))

    @property
    def text(self) -> str:
        """Everything received so far."""
        assert self._stream is not None, "open() first"
        return self._stream.text

    @property
    def waiting_chars(self) -> int:
        """Characters received and not yet handed to synthesis."""
        assert self._stream is not None, "open() first"
        with self._lock:
            queued = sum(len(b.text) for b in self._parts)
        return self._stream.pending + queued

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def busy(self) -> bool:
        """Text is waiting for synthesis or being synthesized."""
        with self._lock:
            return bool(self._parts) or self._running

    # -- text in -----------------------------------------------------------------------------
    def append(self, text: str, *, cut: bool = True) -> None:
        """More text; every phrase it completes is cut off for synthesis (``cut=False``: the text is
        complete and :meth:`finish` follows, so nothing is looked for)."""
        assert self._stream is not None, "open() first"
        if self._finished:
            raise InvalidInputError("this stream has ended; it takes no more text", param="text")
        self._stream.append(text)
        if cut:
            self._queue(self._stream.take_phrases())
            if self._settle is not None:
                self._settle.cancel()
            self._settle = asyncio.get_running_loop().call_later(SETTLE_S, self._settled)

    def _settled(self) -> None:
        """The sender paused: a phrase complete at the end of the text need not wait for the word
        after it."""
        if not self._finished and self._stream is not None:
            self._later(lambda: self._queue(self._stream.take_settled()))  # type: ignore[union-attr]

    def settle(self) -> None:
        """What a timer calls when the sender has been quiet: everything received goes to synthesis;
        a refusal (the budget) ends :meth:`chunks` with its error, since the timer cannot report it."""
        self._later(self.flush)

    def _later(self, cut: Callable[[], None]) -> None:
        try:
            cut()
        except KokoroError as exc:
            self._refused = exc
            self._wake.set()

    def start_now(self, min_chars: int = 1) -> None:
        """Cut at the last safe word boundary if that gives at least ``min_chars`` characters (a
        length schedule reached, or the sender asks for audio now)."""
        assert self._stream is not None, "open() first"
        self._queue(self._stream.take_words(min_chars))

    def flush(self) -> None:
        """Everything received goes to synthesis now, the incomplete phrase at its end too."""
        assert self._stream is not None, "open() first"
        self._queue(self._stream.take_all())

    def finish(self) -> None:
        """No more text: what is left is spoken, then :meth:`chunks` ends."""
        assert self._stream is not None, "open() first"
        if not self._finished:
            if self._settle is not None:
                self._settle.cancel()
            self._queue(self._stream.take_all(final=True))
            self._finished = True
            self._wake.set()

    def _queue(self, part: Part | None) -> None:
        if part is None:
            return
        text = self.text[part.start:part.end]
        self._count(text)
        self.spoken_text = self.spoken_text + text  # only replaced, never changed: safe to read anywhere
        if text.strip():
            with self._lock:
                self._parts.append(_Batch(part, text))
            self._wake.set()

    def _count(self, text: str) -> None:
        """A part's audio counts against the stream's budget (refused past it)."""
        try:
            document = parse(clean_input(text), markup=self.options.markup, input_format="text")
        except KokoroError:  # bad markup: refused with its error when the part is read for synthesis
            document = parse(clean_input(text), markup=False, input_format="text")
        self._budget.add(document.segments)

    # -- audio out ---------------------------------------------------------------------------
    async def chunks(self) -> AsyncGenerator[SpokenChunk, None]:
        """Each chunk as it is synthesized, until :meth:`finish` and all is spoken (then the
        encoder's tail, ``final``). Cancel the iterating task to stop (barge-in)."""
        encoder = HeldEncoder.of(self._session_options)  # one file across the runs
        ended = False  # all of it was spoken (else: stopped, or failed)
        try:
            while True:
                if self._refused is not None:
                    raise self._refused
                with self._lock:
                    waiting = bool(self._parts)
                if not waiting:
                    if self._finished:
                        break
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                self._running = True
                try:
                    async for chunk in self._run(encoder):
                        yield chunk
                finally:
                    self._running = False
            tail = await to_thread.run_sync(encoder.finish)
            ended = True
            yield SpokenChunk(tail, 0, (), final=True)
        finally:
            encoder.close()  # now, or once a run stopped half-way has finished its chunk
            usage = self.usage
            log.info(json.dumps({"event": "live", "request_id": self.request_id, "runs": self._runs,
                                 "chunks": self.chunks_made, "chars": len(self.spoken_text),
                                 "input_tokens": usage.input_tokens, "audio_s": round(usage.audio_seconds, 3),
                                 "spoken": ended}))

    async def _run(self, encoder: HeldEncoder) -> AsyncIterator[SpokenChunk]:
        """One run: a session admitted through the queue that speaks the parts waiting (and those
        that come while it speaks); nothing when they had nothing to say."""
        assert self._prepared is not None
        self._runs += 1
        session = self.sessions.open(None, self._session_options, request_id=f"{self.request_id}.{self._runs}",
                                     prepared=self._prepared, encoder=encoder)
        timed = self._session_options.timestamps is not None
        try:
            try:
                await session.start()
            except InvalidInputError as exc:
                if exc.message.startswith(_NOTHING_TO_SAY):
                    return
                raise
            run_samples = 0
            async with aclosing(session.pieces()) as pieces:
                async for piece in pieces:
                    if piece.error is not None:
                        raise piece.error
                    if piece.final:
                        break
                    spoken, part_end = self._meta.popleft()
                    start = run_samples / SAMPLE_RATE  # the words are timed from the chunk's start
                    words = tuple(replace(w, start_time=round(w.start_time - start, 3),
                                          end_time=round(w.end_time - start, 3)) for w in piece.words)
                    run_samples += piece.samples
                    yield SpokenChunk(piece.data, piece.samples, words if timed else None, spoken, part_end)
        finally:
            session.close()
            self.usage += session.usage

    # -- the runs' chunks (in a worker thread) -----------------------------------------------
    def _next_batch(self) -> _Batch | None:
        """Every part waiting, as one (they are consecutive): the chunker groups them as one text."""
        with self._lock:
            if not self._parts:
                return None
            batches = list(self._parts)
            self._parts.clear()
        first, last = batches[0], batches[-1]
        # from the text handed over (whitespace-only parts between them are not queued, but are in it)
        text = self.spoken_text[first.part.start:last.part.end]
        return _Batch(Part(first.part.start, last.part.end, last.part.boundary), text)

    def _chunk_source(self) -> Iterator[Chunk]:
        while (batch := self._next_batch()) is not None:
            yield from self._batch_chunks(batch)

    def _batch_chunks(self, batch: _Batch) -> Iterator[Chunk]:
        options = self.options
        request = SpeechRequest(text=batch.text, voice=options.voice, model=options.model, speed=options.speed,
                                lang=options.lang, normalization=options.normalization, markup=options.markup,
                                input_format="text")
        try:
            prepared = self.service.prepare(request)
        except InvalidInputError as exc:
            if exc.message.startswith(_NOTHING_TO_SAY):
                return
            raise
        self._packs.update(prepared.packs)
        # normalized once, here: its readings are what the chunks say (the chunker keeps it so)
        prepared = replace(prepared, document=self.service.normalized(prepared.document, options.normalization,
                                                                       prepared.lang))
        carried: tuple[Segment, ...] = ()
        if self._voice is not None:
            carried += (VoiceChange(self._voice, 0, 0),)
        if self._rate != 1.0:
            carried += (SpeedChange(self._rate, 0, 0),)
        document = replace(prepared.document, segments=carried + prepared.document.segments)
        plan = options.plan  # the plan goes on from the chunks made so far
        if self._index:
            plan = replace(plan, first_tokens=plan.budget(self._index))
        spoken = readings(prepared.document, batch.part.start)
        shift = batch.part.start
        for chunk in self.service.chunks(replace(prepared, document=document, chunk_plan=plan)):
            chunk = replace(chunk, index=self._index,
                            boundary=batch.part.boundary if chunk.boundary == "end" else chunk.boundary,
                            words=tuple(replace(w, start=w.start + shift, end=w.end + shift) for w in chunk.words))
            self._meta.append((spoken, batch.part.end))
            self._index += 1
            self.chunks_made += 1
            yield chunk
        for segment in prepared.document.segments:
            if isinstance(segment, VoiceChange):
                self._voice = segment.voice
            elif isinstance(segment, SpeedChange):
                self._rate = segment.rate


@dataclass
class Connections:
    """WebSockets and Wyoming connections open now, server-wide (KOKORO_LIVE_CONNECTIONS)."""

    open: int = 0
    refused: int = 0

    def try_open(self, limit: int) -> bool:
        if self.open >= limit:
            self.refused += 1
            return False
        self.open += 1
        return True

    def close(self) -> None:
        self.open -= 1


async def stop_task(task: asyncio.Task[None] | None) -> None:
    """Cancel a task that speaks (a barge-in) and wait until it has let go of everything."""
    if task is not None and not task.done():
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass
