"""``POST /v1/audio/speech``: raw audio (streamed or whole) or server-sent events."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from kokoro_server import captions
from kokoro_server.api.protocol import ErrorBody, SpeechBody, Usage, sse_event
from kokoro_server.api.security import KEYED
from kokoro_server.api.state import Serving, request_id, serving
from kokoro_server.audio.encoders import FORMATS, AudioFormat, StreamingEncoder, get_format, wav_header
from kokoro_server.serving.download_links import WAV_HEADER_BYTES, encoder_with_download
from kokoro_server.engine.base import FRAME_SAMPLES  # 25 ms at 24 kHz: the unit of usage.output_tokens
from kokoro_server.errors import InvalidInputError, KokoroError, TimestampsUnavailableError
from kokoro_server.serving.runner import AudioStream
from kokoro_server.timestamps import WordTime

router = APIRouter(prefix="/v1", tags=["speech"], **KEYED)
log = logging.getLogger("kokoro_server.api")

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# What a 200 may carry: every response_format's media type, and server-sent events.
MEDIA_TYPES = {**{fmt.content_type: {} for fmt in FORMATS.values()}, "text/event-stream": {}}


class AudioStreamResponse(StreamingResponse):
    """A streaming response that always closes its :class:`AudioStream`, however the send ends."""

    def __init__(self, content: AsyncIterator[bytes], stream: AudioStream, **kwargs: object) -> None:
        super().__init__(content, **kwargs)  # type: ignore[arg-type]
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.stream.close()


@dataclass
class Started:
    """A speech request admitted and its first chunk synthesized: what every speech route sends from."""

    stream: AudioStream
    fmt: AudioFormat
    headers: dict[str, str]
    captions: KeptCaptions | None = None


class KeptCaptions:
    """The captions of a kept clip (``return_download_link`` with timestamps), published beside it
    when the stream ends: ``<name>.vtt`` and ``<name>.srt``."""

    def __init__(self, state: Serving, stem: str, text: str) -> None:
        self._store = state.downloads
        self._text = text
        self._names = {fmt: f"{stem}.{fmt}" for fmt in ("vtt", "srt")}
        self.url_path = [self._store.reserve(name) for name in self._names.values()][0]
        self.words: list[WordTime] = []
        self._done = False

    def finish(self) -> None:
        self._done = True
        for fmt, name in self._names.items():
            self._store.put(name, captions.render(fmt, self.words, self._text).encode(), captions.MEDIA_TYPES[fmt])

    def abort(self) -> None:
        if not self._done:
            self._done = True
            for name in self._names.values():
                self._store.drop(name)


async def start_speech(body: SpeechBody, request: Request, state: Serving, *, timestamps: bool = False,
                       timestamps_param: str = "timestamps", keep_captions: bool = False) -> Started:
    """Validate, prepare, admit and synthesize the first chunk; errors before any audio are 4xx.
    ``keep_captions``: with a download link, the captions are kept beside the audio."""
    fmt = get_format(body.response_format)
    if body.return_download_link and not state.downloads.enabled:
        raise InvalidInputError("download links are disabled (KOKORO_DOWNLOAD_MAX_BYTES=0)",
                                param="return_download_link")
    if body.download_format and not body.return_download_link:
        raise InvalidInputError("download_format is the format of the kept file: it needs "
                                "return_download_link: true", param="download_format")
    prepared = await run_in_threadpool(state.service.prepare, body.to_request())
    if timestamps:
        await run_in_threadpool(state.service.require_timestamps, prepared, timestamps_param)
    writer = state.downloads.open(get_format(body.download_format or fmt.name)) if body.return_download_link else None
    encoder, sink = encoder_with_download(fmt, body.volume_multiplier, writer)
    stream = await state.runner.start(prepared, encoder, request_id=request_id(request), sink=sink,
                                      client_gone=lambda: client_gone(request), timestamps=timestamps)
    headers = dict(STREAM_HEADERS)
    if prepared.notice and prepared.notice.isascii():  # e.g. the default voice is missing: a fallback speaks
        headers["X-Kokoro-Notice"] = prepared.notice
    kept = None
    if writer is not None:
        headers["X-Download-Path"] = writer.url_path
        if keep_captions:
            kept = KeptCaptions(state, writer.name.rsplit(".", 1)[0], body.input)
            headers["X-Captions-Path"] = kept.url_path
    return Started(stream, fmt, headers, kept)


@router.post("/audio/speech", response_class=Response, responses={
    200: {"content": MEDIA_TYPES, "description": "The audio (response_format), or server-sent events."},
    400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 404: {"model": ErrorBody},
    413: {"model": ErrorBody}, 424: {"model": ErrorBody}, 429: {"model": ErrorBody}})
async def create_speech(body: SpeechBody, request: Request, state: Serving = Depends(serving)) -> Response:
    """Text to speech, as OpenAI's endpoint; errors before any audio is sent are proper 4xx answers."""
    if body.timestamps and body.stream_format != "sse":
        raise InvalidInputError("word timestamps come as server-sent events: use stream_format \"sse\" "
                                "(or POST /v1/audio/captions for a caption file)", param="timestamps")
    started = await start_speech(body, request, state, timestamps=body.timestamps, keep_captions=body.timestamps)
    stream, fmt, headers = started.stream, started.fmt, started.headers
    if body.stream_format == "sse":
        return AudioStreamResponse(sse_events(stream, started.captions if body.timestamps else None,
                                              words=body.timestamps),
                                   stream, media_type="text/event-stream", headers=headers)
    headers["Content-Disposition"] = f'inline; filename="speech.{fmt.extension}"'
    if not body.stream:
        return await whole_file(stream, fmt, request, headers)
    return AudioStreamResponse(audio_bytes(stream), stream, media_type=fmt.content_type, headers=headers)


async def client_gone(request: Request) -> None:
    """Returns when the client disconnects (the body has been read: nothing else can arrive)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def audio_bytes(stream: AudioStream) -> AsyncIterator[bytes]:
    async for piece in stream.pieces():
        if piece.data:
            yield piece.data


def error_payload(error: Exception) -> dict[str, object]:
    """The OpenAI-style error of a stream that failed after it began (details of unknown errors stay in the log)."""
    known = isinstance(error, KokoroError)
    return {"message": error.message if known else "synthesis failed (logged on the server)",
            "type": error.error_type if known else "server_error",
            "param": error.param if known else None, "code": error.code if known else "internal_error"}


def missing_durations() -> TimestampsUnavailableError:
    return TimestampsUnavailableError("the model gave no durations for a chunk (logged on the server), so "
                                      "its words cannot be timed", param="timestamps")


async def sse_events(stream: AudioStream, kept: KeptCaptions | None = None, *,
                     words: bool = False) -> AsyncIterator[bytes]:
    samples = tokens = 0
    try:
        async for piece in stream.pieces():
            samples += piece.samples
            tokens += piece.tokens
            error = piece.error
            if piece.data:
                yield sse_event({"type": "speech.audio.delta", "audio": base64.b64encode(piece.data).decode()})
            if words and piece.words is None and error is None:
                error = missing_durations()
            if words and piece.words:
                if kept is not None:
                    kept.words.extend(piece.words)
                yield sse_event({"type": "speech.audio.words", "words": [w.to_json() for w in piece.words]})
            if error is not None:
                yield sse_event({"type": "error", "error": error_payload(error)})
                return
        if kept is not None:
            await run_in_threadpool(kept.finish)
    finally:
        if kept is not None:
            kept.abort()
    frames = -(-samples // FRAME_SAMPLES)
    usage = Usage(input_tokens=tokens, output_tokens=frames, total_tokens=tokens + frames)
    yield sse_event({"type": "speech.audio.done", "usage": usage.model_dump()})


async def whole_file(stream: AudioStream, fmt: AudioFormat, request: Request, headers: dict[str, str]) -> Response:
    """``stream: false``: collect everything, then answer with one body (errors are still 4xx/5xx)."""
    parts: list[bytes] = []
    async with aclosing(stream.pieces()) as pieces:
        async for piece in pieces:
            if piece.error is not None:
                raise piece.error
            parts.append(piece.data)
            if not piece.final and await request.is_disconnected():
                return Response(status_code=499)  # nobody is listening: the stream closes, nothing is sent
    data = b"".join(parts)
    if fmt.name == "wav":
        data = wav_header(len(data) - WAV_HEADER_BYTES) + data[WAV_HEADER_BYTES:]
    headers.pop("X-Accel-Buffering")
    return Response(data, media_type=fmt.content_type, headers=headers)
