"""Runs syntheses for the server: a bounded admission queue in front of the engine.

At most ``concurrency`` streams synthesize at once and ``queue_size`` more wait for a slot; beyond
that :class:`BusyError` (HTTP 429 with ``Retry-After``). Each stream pulls the synchronous
:meth:`SpeechService.stream` generator one chunk at a time in a worker thread, encodes it there, and
hands the bytes to async code, so the event loop never runs inference. One chunk is synthesized
ahead of the one being sent; when the consumer goes away (client disconnect) nothing more is
pulled: the chunk in progress cannot be interrupted, but no later chunk is synthesized. A request
whose client leaves while it waits for a slot is dropped before anything is synthesized. A stream
holds its slot until its last piece of work has really ended.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol, TypeVar

import numpy as np

from kokoro_server import SAMPLE_RATE
from kokoro_server.errors import BusyError, KokoroError, TimestampsUnavailableError
from kokoro_server.service import PreparedSpeech, SpeechService
from kokoro_server.timestamps import StreamClock, WordTime

log = logging.getLogger("kokoro_server.synthesis")

StreamStatus = Literal["queued", "running", "finished", "cancelled", "failed"]
RECORDS_KEPT = 256
T = TypeVar("T")


class Sink(Protocol):
    """Also receives every encoded byte, in the worker thread (a download file, a whole-file answer's
    spool); ``finish`` when the stream ended well, else ``abort``. A download's sink must not raise;
    one that does (a full disk under a whole-file answer) ends the stream with its error."""

    def write(self, data: bytes) -> None: ...

    def finish(self) -> None: ...

    def abort(self) -> None: ...


class Encoder(Protocol):
    """Encodes a stream's audio, in the worker thread (a :class:`StreamingEncoder`, or one lent by a
    session that outlives the stream): ``finish`` gives the tail when the stream ended well, ``close``
    frees it once the last chunk of a stream that did not is done."""

    def encode(self, audio: np.ndarray) -> bytes: ...

    def finish(self) -> bytes: ...

    def close(self) -> None: ...


class ClientGone(Exception):
    """The client left while its request waited for a slot: nothing was synthesized for it."""


@dataclass(frozen=True)
class Piece:
    """One piece of a stream's audio, as the client gets it."""

    data: bytes  # encoded audio, ready to send
    samples: int = 0  # audio samples (24 kHz) in this piece
    tokens: int = 0  # phoneme tokens synthesized for it
    final: bool = False  # the encoder's tail: nothing follows
    error: Exception | None = None  # on the final piece when synthesis failed after the stream began
    words: tuple[WordTime, ...] = ()  # with timestamps: the words heard in it
    position: int = 0  # input characters read so far (the end of the last word spoken, in the input)


@dataclass
class StreamRecord:
    """What one request's synthesis did; kept for the last few hundred requests."""

    request_id: str
    version: str
    voice: str
    chars: int
    status: StreamStatus = "queued"
    chunks: int = 0
    samples: int = 0
    tokens: int = 0
    error: str | None = None
    queued_at: float = field(default_factory=time.monotonic)
    first_audio_s: float | None = None  # from admission to the first encoded chunk
    seconds: float | None = None  # from admission to the end

    @property
    def audio_seconds(self) -> float:
        return self.samples / SAMPLE_RATE


@dataclass
class RunnerTotals:
    admitted: int = 0
    rejected: int = 0
    finished: int = 0
    cancelled: int = 0
    failed: int = 0
    abandoned: int = 0  # of the cancelled: the client left while the request was queued
    chunks: int = 0


class SynthesisRunner:
    def __init__(self, service: SpeechService, *, concurrency: int, queue_size: int) -> None:
        self.service = service
        self.concurrency = concurrency
        self.queue_size = queue_size
        self.totals = RunnerTotals()
        self._slots = asyncio.Semaphore(concurrency)
        self._admitted = 0  # running + waiting
        self._running = 0
        self._versions: Counter[str] = Counter()
        self._records: OrderedDict[str, StreamRecord] = OrderedDict()
        self._lock = threading.Lock()
        self._typical_seconds = 2.0  # moving average of stream lengths, for Retry-After
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="kokoro-synth")
        self._freed = asyncio.Event()  # set when a slot is given back: background work may look again
        self.background = 0  # slots held by background work (book jobs) now

    # -- state -----------------------------------------------------------------------------
    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._admitted - self._running

    def in_use(self, version: str) -> bool:
        return self._versions[version] > 0

    def record(self, request_id: str) -> StreamRecord | None:
        return self._records.get(request_id)

    def snapshot(self) -> dict[str, object]:
        return {"running": self.running, "waiting": self.waiting, "concurrency": self.concurrency,
                "queue_size": self.queue_size, "background": self.background, "totals": asdict(self.totals)}

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue ahead, at the typical stream length."""
        ahead = (self.waiting + 1) / self.concurrency
        return max(1, min(120, math.ceil(self._typical_seconds * ahead)))

    # -- admission -------------------------------------------------------------------------
    def _refuse_when_full(self) -> None:
        if self._admitted >= self.concurrency + self.queue_size:
            self.totals.rejected += 1
            raise BusyError(f"the server is busy: {self.running} syntheses running and {self.waiting} "
                            f"waiting (KOKORO_CONCURRENCY={self.concurrency}, KOKORO_QUEUE_SIZE="
                            f"{self.queue_size}); retry later", retry_after=self.retry_after())

    async def _admit(self, record: StreamRecord, client_gone: Callable[[], Awaitable[object]] | None) -> None:
        """Count the request in and wait for its slot (the slot is held when this returns)."""
        self._remember(record)
        self._admitted += 1
        self.totals.admitted += 1
        try:
            await self._take_slot(client_gone)
        except BaseException as exc:
            self._admitted -= 1
            record.status = "cancelled"
            record.seconds = time.monotonic() - record.queued_at
            self.totals.cancelled += 1
            if isinstance(exc, ClientGone):
                self.totals.abandoned += 1
            self._log(record)  # the client left while it waited for a slot
            raise
        self._running += 1
        self._versions[record.version] += 1
        record.status = "running"

    async def start(self, prepared: PreparedSpeech, encoder: Encoder, *, request_id: str,
                    sinks: Sequence[Sink] = (),
                    client_gone: Callable[[], Awaitable[object]] | None = None,
                    timestamps: str | None = None) -> AudioStream:
        """Wait for a slot and synthesize the first chunk; errors before any audio propagate.

        ``client_gone`` returns when the client has disconnected: if that happens before a slot is
        free, the request is dropped (:class:`ClientGone`) and nothing is synthesized for it.
        ``timestamps``: time the words of each chunk; a chunk the model gave no durations for ends
        the stream with :class:`TimestampsUnavailableError` naming this request field."""
        record = StreamRecord(request_id, prepared.build.version, prepared.voice.canonical, len(prepared.source))
        try:
            self._refuse_when_full()
            await self._admit(record, client_gone)
        except BaseException:
            for sink in sinks:
                sink.abort()
            raise
        stream = AudioStream(self, prepared, encoder, record, sinks, asyncio.get_running_loop(),
                             timestamps=timestamps)
        try:
            stream.first = await stream.next_piece(first=True)
        except BaseException as exc:
            stream.close(exc)
            raise
        return stream

    async def run_task(self, work: Callable[[], T], *, request_id: str, version: str, label: str, chars: int,
                       client_gone: Callable[[], Awaitable[object]] | None = None) -> T:
        """Front-end work that is not a stream (``POST /dev/phonemize``) under the same admission
        rules: a slot of its own (or 429), run in a synthesis worker thread."""
        record = StreamRecord(request_id, version, label, chars)
        self._refuse_when_full()
        await self._admit(record, client_gone)
        future = self._executor.submit(work)
        try:
            result = await asyncio.wrap_future(future)
        except BaseException as exc:
            record.status = "cancelled" if isinstance(exc, asyncio.CancelledError) else "failed"
            record.error = None if record.status == "cancelled" else f"{type(exc).__name__}: {exc}"[:200]
            if not future.done() and not future.cancel():  # still running: the slot stays taken until it ends
                loop = asyncio.get_running_loop()
                future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release_record, record))
            else:
                self._release_record(record)
            raise
        record.status = "finished"
        self._release_record(record)
        return result

    async def _take_slot(self, client_gone: Callable[[], Awaitable[object]] | None) -> None:
        if client_gone is None:
            await self._slots.acquire()
            return
        acquire = asyncio.ensure_future(self._slots.acquire())
        watch = asyncio.ensure_future(client_gone())
        try:
            await asyncio.wait((acquire, watch), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            self._give_back(acquire)
            raise
        finally:
            gone = watch.done()
            watch.cancel()
        if gone:  # even if a slot came free at the same moment: nobody is listening
            self._give_back(acquire)
            raise ClientGone()

    def _give_back(self, acquire: asyncio.Future[bool]) -> None:
        if acquire.done() and not acquire.cancelled():
            self._slots.release()
            self._freed.set()
        else:
            acquire.cancel()

    @asynccontextmanager
    async def background_turn(self) -> AsyncIterator[None]:
        """A slot for one chunk of background work (a book job), below every live request: taken only
        while a slot is free and no live request waits, and given back after that one chunk, so a live
        request waits behind background work for at most one chunk."""
        while self._slots.locked() or self.waiting:
            self._freed.clear()
            await self._freed.wait()
        await self._slots.acquire()  # free: returns at once
        self.background += 1
        try:
            yield
        finally:
            self.background -= 1
            self._slots.release()
            self._freed.set()

    def _remember(self, record: StreamRecord) -> None:
        with self._lock:
            self._records[record.request_id] = record
            while len(self._records) > RECORDS_KEPT:
                self._records.popitem(last=False)

    def _count_chunk(self, record: StreamRecord, samples: int, tokens: int) -> None:
        with self._lock:
            self.totals.chunks += 1
            record.chunks += 1
            record.samples += samples
            record.tokens += tokens
            if record.first_audio_s is None:
                record.first_audio_s = time.monotonic() - record.queued_at

    def _release(self, stream: AudioStream) -> None:
        """Called on the event loop once a stream's last piece of work has ended."""
        self._release_record(stream.record)

    def _release_record(self, record: StreamRecord) -> None:
        record.seconds = time.monotonic() - record.queued_at
        self._running -= 1
        self._admitted -= 1
        self._versions[record.version] -= 1
        self._slots.release()
        self._freed.set()
        setattr(self.totals, record.status, getattr(self.totals, record.status) + 1)
        self._typical_seconds = 0.8 * self._typical_seconds + 0.2 * record.seconds
        self._log(record)

    @staticmethod
    def _log(record: StreamRecord) -> None:
        level = logging.WARNING if record.status == "failed" else logging.INFO
        log.log(level, json.dumps({
            "event": "synthesis", "request_id": record.request_id, "status": record.status,
            "version": record.version, "voice": record.voice, "chars": record.chars,
            "chunks": record.chunks, "audio_s": round(record.audio_seconds, 3),
            "first_audio_s": None if record.first_audio_s is None else round(record.first_audio_s, 3),
            "seconds": None if record.seconds is None else round(record.seconds, 3), "error": record.error}))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class AudioStream:
    """One admitted request's audio: ``first`` is ready; iterate :meth:`pieces` for all of it."""

    first: Piece

    def __init__(self, runner: SynthesisRunner, prepared: PreparedSpeech, encoder: Encoder,
                 record: StreamRecord, sinks: Sequence[Sink], loop: asyncio.AbstractEventLoop,
                 timestamps: str | None = None) -> None:
        self.record = record
        self._clock = StreamClock() if timestamps else None  # times the words of each chunk
        self._timestamps_param = timestamps or "timestamps"
        self._runner = runner
        self._chunks = runner.service.stream(prepared)  # lazy: nothing runs until pulled
        self._encoder = encoder
        self._sinks = tuple(sinks)
        self._loop = loop
        self._pending: Future[Piece] | None = None
        self._position = 0
        self._ended = False  # the final piece was produced
        self._closed = False

    # -- worker side (one call at a time, in a worker thread) ------------------------------
    def _produce(self, first: bool) -> Piece:
        try:
            chunk = next(self._chunks, None)
            if chunk is None:
                return self._end()
            words: tuple[WordTime, ...] = ()
            if self._clock is not None:
                heard = self._clock.words(chunk)
                if heard is None:  # the one place a chunk without durations becomes an error
                    raise TimestampsUnavailableError(
                        "the model gave no durations for a chunk (logged on the server), so its words "
                        "cannot be timed", param=self._timestamps_param)
                words = heard
            data = self._encoder.encode(chunk.audio)
            for sink in self._sinks:
                sink.write(data)
        except Exception as exc:
            if first:
                raise
            return self._end(exc)
        if chunk.chunk.words:
            self._position = max(self._position, chunk.chunk.words[-1].end)
        self._runner._count_chunk(self.record, len(chunk.audio), len(chunk.chunk.tokens))
        return Piece(data, len(chunk.audio), len(chunk.chunk.tokens), words=words, position=self._position)

    def _end(self, error: Exception | None = None) -> Piece:
        """The final piece: the encoder's tail, so even a failed stream ends as a valid file."""
        self._ended = True
        try:
            tail = self._encoder.finish()
        except Exception as exc:  # pragma: no cover - encoder failures are not expected
            error, tail = error or exc, b""
        if error is None:
            try:
                for sink in self._sinks:
                    sink.write(tail)
                    sink.finish()
            except Exception as exc:  # a whole-file answer's spool could not be written
                error = exc
        if error is not None:
            self._fail(error)
            for sink in self._sinks:
                sink.abort()
        return Piece(tail, final=True, error=error, position=self._position)

    def _fail(self, error: BaseException) -> None:
        self.record.status = "failed"
        self.record.error = f"{type(error).__name__}: {error}"
        expected = isinstance(error, KokoroError)  # a user-facing problem: no traceback needed
        log.log(logging.WARNING if expected else logging.ERROR, "synthesis failed for request %s after %d "
                "chunks: %s", self.record.request_id, self.record.chunks, self.record.error,
                exc_info=None if expected else error)

    # -- async side ------------------------------------------------------------------------
    def _submit(self, first: bool = False) -> Future[Piece]:
        self._pending = self._runner._executor.submit(self._produce, first)
        return self._pending

    async def next_piece(self, *, first: bool = False) -> Piece:
        return await asyncio.wrap_future(self._submit(first))

    async def pieces(self) -> AsyncIterator[Piece]:
        """``first`` and every later piece; the next chunk is synthesized while one is being sent."""
        piece = self.first
        try:
            while not piece.final and not self._closed:  # closed meanwhile: nothing more is synthesized
                upcoming = self._submit()
                yield piece
                piece = await asyncio.wrap_future(upcoming)
            if not self._closed:
                yield piece
        finally:
            self.close()

    def close(self, error: BaseException | None = None) -> None:
        """Stop pulling chunks; the slot is released once the chunk in progress (if any) is done."""
        if self._closed:
            return
        self._closed = True
        if error is not None and not isinstance(error, asyncio.CancelledError) and self.record.status != "failed":
            self._fail(error)
        pending = self._pending
        if pending is not None and not pending.done() and not pending.cancel():
            pending.add_done_callback(lambda _: self._finalize_soon())
        else:
            self._finalize()

    def _finalize_soon(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._finalize)
        except RuntimeError:  # the loop is gone (server shut down)
            pass

    def _finalize(self) -> None:
        self._chunks.close()
        if self.record.status == "running":
            self.record.status = "finished" if self._ended else "cancelled"
        if not self._ended:
            self._encoder.close()  # its codec's buffers and threads go now, not at some later collection
            for sink in self._sinks:
                sink.abort()
        self._runner._release(self)
