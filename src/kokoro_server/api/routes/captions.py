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
from contextlib import aclosing

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from kokoro_server import captions
from kokoro_server.api.protocol import CaptionedSpeechBody, CaptionedSpeechResponse, CaptionsBody, ErrorBody
from kokoro_server.api.routes.speech import (AudioStreamResponse, Started, error_payload, missing_durations,
                                             start_speech)
from kokoro_server.api.security import KEYED
from kokoro_server.api.state import Serving, serving
from kokoro_server.audio.encoders import wav_header
from kokoro_server.serving.download_links import WAV_HEADER_BYTES
from kokoro_server.timestamps import WordTime

router = APIRouter(tags=["timestamps"], **KEYED)
ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 404, 413, 422, 424, 429)}


async def collect(started: Started, request: Request) -> tuple[bytes, list[WordTime]] | None:
    """All of the audio (a complete file) and every word; None if the client went away."""
    parts: list[bytes] = []
    words: list[WordTime] = []
    async with aclosing(started.stream.pieces()) as pieces:
        async for piece in pieces:
            if piece.error is not None:
                raise piece.error
            if piece.words is None:
                raise missing_durations()
            parts.append(piece.data)
            words.extend(piece.words)
            if not piece.final and await request.is_disconnected():
                return None
    data = b"".join(parts)
    if started.fmt.name == "wav":
        data = wav_header(len(data) - WAV_HEADER_BYTES) + data[WAV_HEADER_BYTES:]
    return data, words


@router.post("/v1/audio/captions", response_class=Response, responses={
    200: {"content": {m: {} for m in captions.MEDIA_TYPES.values()}, "description": "The caption file."}, **ERRORS})
async def create_captions(body: CaptionsBody, request: Request, state: Serving = Depends(serving)) -> Response:
    """Speak the input and answer with its caption file; ``return_download_link`` keeps the audio too."""
    started = await start_speech(body, request, state, timestamps=True)
    collected = await collect(started, request)
    if collected is None:
        return Response(status_code=499)
    _, words = collected
    seconds = started.stream.record.audio_seconds
    text = await run_in_threadpool(captions.render, body.caption_format, words, body.input, seconds)
    headers = {k: v for k, v in started.headers.items() if k in ("X-Download-Path", "X-Kokoro-Notice")}
    headers["Content-Disposition"] = f'attachment; filename="speech.{body.caption_format}"'
    return Response(text.encode(), media_type=captions.MEDIA_TYPES[body.caption_format], headers=headers)


@router.post("/dev/captioned_speech", response_class=Response, responses={
    200: {"content": {"application/json": {}}, "description": "Audio (base64) with word timestamps."}, **ERRORS})
async def captioned_speech(body: CaptionedSpeechBody, request: Request, state: Serving = Depends(serving)) -> Response:
    """Kokoro-FastAPI's captioned speech: streamed, one JSON object per line; else one JSON object."""
    started = await start_speech(body, request, state, timestamps=body.return_timestamps,
                                 timestamps_param="return_timestamps")
    headers = dict(started.headers)
    headers["Content-Disposition"] = f'attachment; filename="speech.{started.fmt.extension}"'
    media = started.fmt.content_type
    if not body.stream:
        collected = await collect(started, request)
        if collected is None:
            return Response(status_code=499)
        data, words = collected
        headers.pop("X-Accel-Buffering", None)
        return JSONResponse(CaptionedSpeechResponse(audio=base64.b64encode(data).decode(), audio_format=media,
                                                    timestamps=[w.to_json() for w in words]).model_dump(),
                            headers=headers)
    return AudioStreamResponse(json_lines(started, body.return_timestamps), started.stream,
                               media_type="application/json", headers=headers)


async def json_lines(started: Started, timestamps: bool) -> AsyncIterator[bytes]:
    """One line per piece of audio: its bytes and the words heard in it; an error ends the stream
    with a line ``{"error": {...}}``."""
    media = started.fmt.content_type
    async for piece in started.stream.pieces():
        error = piece.error
        if timestamps and piece.words is None and error is None:
            error = missing_durations()
        if piece.data or piece.words:
            words = [w.to_json() for w in piece.words or ()]
            yield line({"audio": base64.b64encode(piece.data).decode(), "audio_format": media, "timestamps": words})
        if error is not None:
            yield line({"error": error_payload(error)})
            return


def line(payload: dict[str, object]) -> bytes:
    return (json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
