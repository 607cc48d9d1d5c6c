"""``POST /v1/audio/speech``: raw audio (streamed or whole) or server-sent events, from one speech session."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from kokoro_server.api.protocol import SpeechBody, Usage, sse_event
from kokoro_server.api.responses import (SPEECH_ERRORS, STREAM_HEADERS, SessionResponse, error_payload, errors,
                                         open_session, whole_file)
from kokoro_server.api.security import KEYED
from kokoro_server.api.state import Serving, serving
from kokoro_server.audio.encoders import FORMATS
from kokoro_server.errors import InvalidInputError
from kokoro_server.serving.session import SessionOptions, SpeechSession

router = APIRouter(prefix="/v1", tags=["speech"], **KEYED)

# What a 200 may carry: every response_format's media type, and server-sent events.
MEDIA_TYPES = {**{fmt.content_type: {} for fmt in FORMATS.values()}, "text/event-stream": {}}


def speech_options(body: SpeechBody, *, timestamps: str | None = None, whole: bool = False,
                   keep_captions: bool = False) -> SessionOptions:
    """The session options a speech body asks for (its download link and volume checked)."""
    if body.download_format and not body.return_download_link:
        raise InvalidInputError("download_format is the format of the kept file: it needs "
                                "return_download_link: true", param="download_format")
    keep = (body.download_format or body.response_format) if body.return_download_link else None
    return SessionOptions.of(body.response_format, volume=body.volume_multiplier, timestamps=timestamps,
                             keep=keep, keep_captions=keep_captions, whole=whole)


@router.post("/audio/speech", response_class=Response, responses={
    200: {"content": MEDIA_TYPES, "description": "The audio (response_format), or server-sent events."},
    **errors(SPEECH_ERRORS)})
async def create_speech(body: SpeechBody, request: Request, state: Serving = Depends(serving)) -> Response:
    """Text to speech, as OpenAI's endpoint; errors before any audio is sent are proper 4xx answers."""
    if body.timestamps and body.stream_format != "sse":
        raise InvalidInputError("word timestamps come as server-sent events: use stream_format \"sse\" "
                                "(or POST /v1/audio/captions for a caption file)", param="timestamps")
    sse = body.stream_format == "sse"
    options = speech_options(body, timestamps="timestamps" if body.timestamps else None,
                             whole=not sse and not body.stream, keep_captions=body.timestamps)
    session = open_session(state, request, body.to_request(), options)
    await session.start()
    headers = {**STREAM_HEADERS, **session.headers}
    if sse:
        return SessionResponse(sse_events(session, words=body.timestamps), session, media_type="text/event-stream",
                               headers=headers)
    fmt = options.format
    headers["Content-Disposition"] = f'inline; filename="speech.{fmt.extension}"'
    if options.whole:
        done = await session.finish()
        assert done.spool is not None
        return whole_file(session, done.spool, fmt.content_type, headers)
    return SessionResponse(audio_bytes(session), session, media_type=fmt.content_type, headers=headers)


async def audio_bytes(session: SpeechSession) -> AsyncIterator[bytes]:
    async for piece in session.pieces():
        if piece.data:
            yield piece.data


async def sse_events(session: SpeechSession, *, words: bool = False) -> AsyncIterator[bytes]:
    async for piece in session.pieces():
        if piece.data:
            yield sse_event({"type": "speech.audio.delta", "audio": base64.b64encode(piece.data).decode()})
        if words and piece.words:
            yield sse_event({"type": "speech.audio.words", "words": [w.to_json() for w in piece.words]})
        if piece.error is not None:
            yield sse_event({"type": "error", "error": error_payload(piece.error)})
            return
    usage = session.usage
    yield sse_event({"type": "speech.audio.done", "usage": Usage(
        input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens).model_dump()})
