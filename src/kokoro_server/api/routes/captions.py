"""Word timestamps over HTTP: caption files, and Kokoro-FastAPI's ``POST /dev/captioned_speech``.

``POST /v1/audio/captions`` synthesizes the input and answers with its captions (SRT, WebVTT or
JSON); with ``return_download_link`` the audio of the same synthesis is kept too. The captioned
speech route takes Kokoro-FastAPI's request and answers in its shapes: streamed, one JSON object
per line, ``{"audio": <base64 of this piece>, "audio_format", "timestamps": [{"word", "start_time",
"end_time", ...}]}``; whole (``stream: false``), one such object with all of the audio and words.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kokoro_server import captions
from kokoro_server.api.protocol import CaptionedSpeechBody, CaptionsBody
from kokoro_server.api.responses import (SPEECH_ERRORS, STREAM_HEADERS, SessionResponse, error_payload, errors,
                                         json_with_audio, open_session)
from kokoro_server.api.routes.speech import speech_options
from kokoro_server.api.security import KEYED
from kokoro_server.api.state import Serving, serving
from kokoro_server.serving.session import SpeechSession

router = APIRouter(tags=["timestamps"], **KEYED)


@router.post("/v1/audio/captions", response_class=Response, responses={
    200: {"content": {m: {} for m in captions.MEDIA_TYPES.values()}, "description": "The caption file."},
    **errors(SPEECH_ERRORS)})
async def create_captions(body: CaptionsBody, request: Request, state: Serving = Depends(serving)) -> Response:
    """Speak the input and answer with its caption file; ``return_download_link`` keeps the audio too."""
    options = speech_options(body, timestamps="timestamps")
    async with open_session(state, request, body.to_request(), options) as session:
        await session.start()
        done = await session.finish()
        text = await run_in_threadpool(captions.render, body.caption_format, done.words, body.input,
                                       done.audio_seconds)
        headers = {k: v for k, v in session.headers.items() if k in ("X-Download-Path", "X-Kokoro-Notice")}
    headers["Content-Disposition"] = f'attachment; filename="speech.{body.caption_format}"'
    return Response(text.encode(), media_type=captions.MEDIA_TYPES[body.caption_format], headers=headers)


@router.post("/dev/captioned_speech", response_class=Response, responses={
    200: {"content": {"application/json": {}}, "description": "Audio (base64) with word timestamps."},
    **errors(SPEECH_ERRORS)})
async def captioned_speech(body: CaptionedSpeechBody, request: Request, state: Serving = Depends(serving)) -> Response:
    """Kokoro-FastAPI's captioned speech: streamed, one JSON object per line; else one JSON object."""
    options = speech_options(body, timestamps="return_timestamps" if body.return_timestamps else None,
                             whole=not body.stream)
    session = open_session(state, request, body.to_request(), options)
    await session.start()
    headers = {**STREAM_HEADERS, **session.headers}
    headers["Content-Disposition"] = f'attachment; filename="speech.{options.format.extension}"'
    media = options.format.content_type
    if not body.stream:
        done = await session.finish()
        assert done.spool is not None
        before = b'{"audio":"'
        after = (f'","audio_format":{json.dumps(media)},"timestamps":'
                 f'{json.dumps([w.to_json() for w in done.words], ensure_ascii=False, separators=(",", ":"))}}}')
        return json_with_audio(session, done.spool, before, after.encode(), headers)
    return SessionResponse(json_lines(session, media), session, media_type="application/json", headers=headers)


async def json_lines(session: SpeechSession, media: str) -> AsyncIterator[bytes]:
    """One line per piece of audio: its bytes and the words heard in it; an error ends the stream
    with a line ``{"error": {...}}``."""
    async for piece in session.pieces():
        if piece.data or piece.words:
            words = [w.to_json() for w in piece.words]
            yield line({"audio": base64.b64encode(piece.data).decode(), "audio_format": media, "timestamps": words})
        if piece.error is not None:
            yield line({"error": error_payload(piece.error)})
            return


def line(payload: dict[str, object]) -> bytes:
    return (json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
