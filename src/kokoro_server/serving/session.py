"""One speech request, served: the object every speech route and ``kokoro-server say`` run through.

A :class:`SpeechSession` takes a :class:`~kokoro_server.service.SpeechRequest` (text, voice, model,
speed, ...) and :class:`SessionOptions` (what to do with the audio: format, volume, word timestamps,
a kept copy, a whole file) and carries the request from the front end to the last byte:

1. :meth:`~SpeechSession.prepare`: the service's front end and the request's budget, in a worker
   thread; every error here is a 4xx before anything is sent. Or give it a request prepared already
   (:meth:`Sessions.open` with ``prepared=``).
2. :meth:`~SpeechSession.start`: admission through the :class:`~kokoro_server.serving.runner.SynthesisRunner`
   (a slot, or 429; a client that leaves while queued is dropped), and the first chunk synthesized,
   so errors up to the first audio are still 4xx.
3. :meth:`~SpeechSession.pieces`: every piece of encoded audio, in order (``async for``), each with
   its samples, tokens, words (with timestamps) and the input position reached; the next chunk is
   synthesized while one is being sent. A failure after audio began ends the stream with a final
   piece carrying the error (the audio sent so far stays a valid file).
   Or :meth:`~SpeechSession.finish` for a whole file: the audio is kept in a :class:`Spool` (memory,
   then a spool file) and handed over complete, with every word.
4. :meth:`~SpeechSession.close` (or ``async with``): stop at once (the chunk in progress finishes,
   no later one is synthesized), release the slot, drop an unfinished download.

Sinks: with ``keep`` (``return_download_link``) a download file is written as the audio is encoded
(in another format too), and with timestamps its captions beside it; a whole-file answer's spool is
a sink too. :attr:`~SpeechSession.usage` and :attr:`~SpeechSession.record` give the usage
(OpenAI's tokens) and timings. See docs/architecture.md, "One speech session".

Text streamed in (the voice agents' dialects, :mod:`kokoro_server.serving.live_speech`) is spoken
by several sessions in turn, each opened with ``prepared=`` (whose ``chunk_source`` feeds the text
that has arrived) and one :class:`HeldEncoder` lent to all of them, so their audio is one file.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

import numpy as np
from anyio import to_thread

from kokoro_server import SAMPLE_RATE, captions
from kokoro_server.audio.encoders import AudioFormat, StreamingEncoder, get_format
from kokoro_server.engine.base import FRAME_SAMPLES
from kokoro_server.errors import InvalidInputError
from kokoro_server.files import sweep_temp_files
from kokoro_server.serving.download_links import DownloadStore, encoder_with_download
from kokoro_server.serving.runner import (AudioStream, ClientGone, Encoder, Piece, Sink, StreamRecord,
                                          SynthesisRunner)
from kokoro_server.serving.spool import Spool
from kokoro_server.service import MAX_VOLUME, MIN_VOLUME, PreparedSpeech, SpeechRequest, SpeechService
from kokoro_server.timestamps import WordTime

__all__ = ["HeldEncoder", "KeptCaptions", "Listener", "Piece", "SessionOptions", "Sessions", "SpeechSession", "Usage",
           "WholeFile"]


@dataclass(frozen=True)
class SessionOptions:
    """What to do with a request's audio."""

    format: AudioFormat
    volume: float = 1.0  # multiplier, MIN_VOLUME..MAX_VOLUME
    timestamps: str | None = None  # the request field that asked for word timestamps (named in errors)
    keep: AudioFormat | None = None  # return_download_link: also keep the file, in this format
    keep_captions: bool = False  # with keep and timestamps: keep its captions (.vtt, .srt) beside it
    whole: bool = False  # the answer is one complete file: keep the audio in a spool (see finish)

    @classmethod
    def of(cls, response_format: str, *, volume: float = 1.0, timestamps: str | None = None,
           keep: str | None = None, keep_captions: bool = False, whole: bool = False) -> SessionOptions:
        """Options from a request's fields, checked (400 on a bad format or volume)."""
        if not MIN_VOLUME <= volume <= MAX_VOLUME:
            raise InvalidInputError(f"volume must be between {MIN_VOLUME:g} and {MAX_VOLUME:g}, got {volume:g}",
                                    param="volume_multiplier")
        return cls(get_format(response_format), volume, timestamps, get_format(keep) if keep else None,
                   keep_captions and timestamps is not None and keep is not None, whole)


@dataclass(frozen=True)
class Usage:
    """What a session used, as OpenAI counts it: phoneme tokens in, 25 ms audio frames out."""

    input_tokens: int
    output_tokens: int
    audio_seconds: float

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        """Two sessions' usage together (the runs of one live stream)."""
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens,
                     self.audio_seconds + other.audio_seconds)


@dataclass
class WholeFile:
    """A finished session's complete answer: the file (None when it was not kept) and every word."""

    spool: Spool | None
    words: list[WordTime]
    audio_seconds: float


class Listener(Protocol):
    """The client of a session, as far as the session needs to know: whether it has left."""

    async def gone(self) -> None:
        """Return once the client has left (awaited while the request waits for a slot)."""

    async def left(self) -> bool:
        """Whether the client has left (asked between the pieces of a whole-file answer)."""


class KeptCaptions:
    """The captions of a kept clip (``return_download_link`` with timestamps), published beside it
    when the stream ends: ``<name>.vtt`` and ``<name>.srt``."""

    def __init__(self, store: DownloadStore, stem: str, text: str) -> None:
        self._store = store
        self._text = text
        self._names = {fmt: f"{stem}.{fmt}" for fmt in ("vtt", "srt")}
        self.url_path = [self._store.reserve(name) for name in self._names.values()][0]
        self._done = False

    def finish(self, words: Sequence[WordTime]) -> None:
        self._done = True
        for fmt, name in self._names.items():
            self._store.put(name, captions.render(fmt, words, self._text).encode(), captions.MEDIA_TYPES[fmt])

    def abort(self) -> None:
        if not self._done:
            self._done = True
            for name in self._names.values():
                self._store.drop(name)


class HeldEncoder:
    """One encoder lent to several sessions in turn, whose audio is one file (one Ogg stream, one MP3):
    the runs of a live stream. A session encodes with it but neither finishes nor closes it (its
    final piece has no tail); :meth:`finish` gives the file's tail after the last session, and
    :meth:`close` frees the codec now, or, while a session's last chunk is still being encoded (a
    barge-in), as soon as that session lets go of it."""

    def __init__(self, encoder: StreamingEncoder) -> None:
        self.encoder = encoder
        self._lock = threading.Lock()
        self._lent = 0  # sessions whose work may still encode with it
        self._closing = False

    @classmethod
    def of(cls, options: SessionOptions) -> HeldEncoder:
        """An encoder of the options' format and volume, for the sessions opened with those options."""
        return cls(StreamingEncoder(options.format, volume=options.volume))

    def lend(self) -> _LentEncoder:
        with self._lock:
            if self._closing:
                raise RuntimeError("the encoder was closed")
            self._lent += 1
        return _LentEncoder(self)

    def returned(self) -> None:
        """A session's work with it has ended (called once per :meth:`lend`, in any thread)."""
        with self._lock:
            self._lent -= 1
            close = self._closing and not self._lent
        if close:
            self.encoder.close()

    def finish(self) -> bytes:
        """The file's tail (after the last session)."""
        return self.encoder.finish()

    def close(self) -> None:
        """Give up the file (a finished one stays as it is): the codec is freed once no session uses it."""
        with self._lock:
            self._closing = True
            if self._lent:
                return
        self.encoder.close()


class _LentEncoder:
    """A :class:`HeldEncoder` as one session sees it: the runner's ``finish`` (a stream that ended
    well) and ``close`` (one that did not, once its last chunk is done) only hand it back."""

    def __init__(self, held: HeldEncoder) -> None:
        self._held = held
        self._returned = False

    def encode(self, audio: np.ndarray) -> bytes:
        return self._held.encoder.encode(audio)

    def finish(self) -> bytes:
        self.close()
        return b""

    def close(self) -> None:
        if not self._returned:
            self._returned = True
            self._held.returned()


class Sessions:
    """Opens the speech sessions of one server (or one CLI run) over its shared objects."""

    def __init__(self, service: SpeechService, runner: SynthesisRunner, downloads: DownloadStore | None = None,
                 spool_folders: Sequence[Path] | None = None) -> None:
        self.service = service
        self.runner = runner
        self.downloads = downloads
        if spool_folders is None:  # the data dir's, else (read-only) one of this user's in the temp dir
            fallback = Path(tempfile.gettempdir()) / f"kokoro-server-{os.getuid()}-spool"
            sweep_temp_files([fallback])  # the data dir's spool is swept with its other temp files
            spool_folders = (service.data_dir.spool_dir, fallback)
        self.spool_folders = tuple(spool_folders)

    def open(self, request: SpeechRequest | None, options: SessionOptions, *, request_id: str = "-",
             listener: Listener | None = None, prepared: PreparedSpeech | None = None,
             encoder: HeldEncoder | None = None) -> SpeechSession:
        """A session for ``request`` (or for a request ``prepared`` already: the front end is not run
        again); ``encoder``: encode with this one, which outlives the session (no download then)."""
        if request is None and prepared is None:
            raise ValueError("a session needs a request or a prepared request")
        if encoder is not None and (options.keep is not None or options.whole):
            raise ValueError("a held encoder's audio is neither kept nor spooled as a whole file")
        return SpeechSession(self, request, options, request_id=request_id, listener=listener, prepared=prepared,
                             encoder=encoder)


class SpeechSession:
    """One speech request from its front end to its last byte (see the module)."""

    def __init__(self, sessions: Sessions, request: SpeechRequest | None, options: SessionOptions, *,
                 request_id: str = "-", listener: Listener | None = None,
                 prepared: PreparedSpeech | None = None, encoder: HeldEncoder | None = None) -> None:
        self._sessions = sessions
        self._held = encoder
        self.request = request
        self.options = options
        self.request_id = request_id
        self._listener = listener
        self.prepared = prepared
        self.headers: dict[str, str] = {}  # what the answer should tell: notice, download paths
        self.words: list[WordTime] = []  # every word heard so far (with timestamps)
        self.spool: Spool | None = None
        self._stream: AudioStream | None = None
        self._captions: KeptCaptions | None = None
        self._tokens = 0
        self._samples = 0
        self._closed = False

    # -- steps -----------------------------------------------------------------------------
    async def prepare(self) -> PreparedSpeech:
        """The front end and the budget (in a worker thread); 4xx errors. Done once."""
        if self.prepared is None:
            assert self.request is not None
            self.prepared = await to_thread.run_sync(self._sessions.service.prepare, self.request)
        return self.prepared

    async def require_timestamps(self) -> None:
        """Word timestamps need the model's durations: :class:`TimestampsUnavailableError` (naming
        ``options.timestamps``) if it cannot give them, before any audio. :meth:`start` checks this."""
        prepared = await self.prepare()
        await to_thread.run_sync(self._sessions.service.require_timestamps, prepared,
                                 self.options.timestamps or "timestamps")

    async def start(self) -> None:
        """Prepare (if not done), take a synthesis slot and synthesize the first chunk; errors up to
        the first audio propagate (4xx) and leave nothing behind."""
        options, sessions = self.options, self._sessions
        if options.keep is not None and (sessions.downloads is None or not sessions.downloads.enabled):
            raise InvalidInputError("download links are disabled (KOKORO_DOWNLOAD_MAX_BYTES=0)",
                                    param="return_download_link")
        prepared = await self.prepare()
        if options.timestamps:
            await self.require_timestamps()
        if prepared.notice and prepared.notice.isascii():  # e.g. the default voice is missing: a fallback speaks
            self.headers["X-Kokoro-Notice"] = prepared.notice
        sinks: list[Sink] = []
        writer = sessions.downloads.open(options.keep) if options.keep is not None and sessions.downloads else None
        encoder: Encoder
        download: Sink | None = None
        if self._held is None:
            encoder, download = encoder_with_download(options.format, options.volume, writer)
        else:  # the stream's encoder: this session's end is not the file's
            encoder = self._held.lend()
        if download is not None:
            sinks.append(download)
        if writer is not None:
            self.headers["X-Download-Path"] = writer.url_path
            if options.keep_captions and sessions.downloads is not None:
                self._captions = KeptCaptions(sessions.downloads, writer.name.rsplit(".", 1)[0], prepared.source)
                self.headers["X-Captions-Path"] = self._captions.url_path
        if options.whole:
            self.spool = Spool(options.format, sessions.spool_folders)
            sinks.append(self.spool)
        listener = self._listener
        try:
            self._stream = await sessions.runner.start(
                prepared, encoder, request_id=self.request_id, sinks=sinks, timestamps=options.timestamps,
                client_gone=listener.gone if listener is not None else None)
        except BaseException:
            encoder.close()
            self.close()
            raise

    async def pieces(self) -> AsyncGenerator[Piece, None]:
        """Every piece of audio, the first one included (starts the session if needed); the last has
        ``final`` set and carries the error of a stream that failed after it began. Leaving the loop
        early closes the session."""
        if self._stream is None:
            await self.start()
        assert self._stream is not None
        try:
            async for piece in self._stream.pieces():
                self._tokens += piece.tokens
                self._samples += piece.samples
                if piece.words:
                    self.words.extend(piece.words)
                if piece.final and piece.error is None and self._captions is not None:
                    await to_thread.run_sync(self._captions.finish, self.words)
                yield piece
        finally:
            self._end_stream()

    async def finish(self) -> WholeFile:
        """Run the session to its end and hand over the whole file (``options.whole``) and every word.
        A failure raises its error; a client that leaves ends it with :class:`ClientGone`. The caller
        sends the file and then closes the session (which deletes the spool)."""
        try:
            async with aclosing(self.pieces()) as pieces:
                async for piece in pieces:
                    if piece.error is not None:
                        raise piece.error
                    if not piece.final and self._listener is not None and await self._listener.left():
                        raise ClientGone()  # nobody is listening: nothing more is synthesized
        except BaseException:
            self.close()
            raise
        return WholeFile(self.spool, self.words, self.usage.audio_seconds)

    def close(self) -> None:
        """Stop: no later chunk is synthesized, the slot is released once the chunk in progress is
        done, an unfinished download and the spool are deleted. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        self._end_stream()
        if self.spool is not None:
            self.spool.close()

    def _end_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._captions is not None:
            self._captions.abort()

    async def __aenter__(self) -> SpeechSession:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, value: BaseException | None,
                        traceback: TracebackType | None) -> None:
        self.close()

    # -- what it did -----------------------------------------------------------------------
    @property
    def usage(self) -> Usage:
        frames = -(-self._samples // FRAME_SAMPLES)
        return Usage(self._tokens, frames, self._samples / SAMPLE_RATE)

    @property
    def record(self) -> StreamRecord | None:
        """The runner's record of this request: status, chunks, first-audio time, total time."""
        return self._stream.record if self._stream is not None else None
