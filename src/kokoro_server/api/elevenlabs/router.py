"""ElevenLabs' text-to-speech API: REST routes, WebSockets and the voice list, in ElevenLabs' shapes.

Clients set their base URL to this server (``http://host:8880/v1`` for LiveKit's plugin and the
``elevenlabs`` SDK's ``base_url="http://host:8880"``, ``ws://host:8880`` for Pipecat) and send our
voice ids (``af_heart``, a mix, ``v0_19/af_bella``) as ``voice_id``. The key is the ``xi-api-key``
header (or query parameter, or ``Authorization: Bearer``), checked against KOKORO_API_KEYS. Errors
are ElevenLabs' ``{"detail": {"status", "message"}}``. ``GET /v1/models`` is OpenAI's list (the path
is shared; ElevenLabs' clients do not need it).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from kokoro_server.api.elevenlabs.protocol import ErrorBody, TextToSpeechBody, error_status, rest_error
from kokoro_server.api.elevenlabs.serving import RestSpeech, SocketSession, start_rest_speech
from kokoro_server.api.routes.voices import voice_object
from kokoro_server.api.security import READ_ONLY_METHODS, dialect_key, key_accepted
from kokoro_server.api.state import Serving, request_id, serving
from kokoro_server.audio.encoders import OUTPUT_FORMATS
from kokoro_server.builds import BUILDS
from kokoro_server.errors import AuthenticationError, BusyError, KokoroError, VoiceNotFoundError

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
OutputFormat = Annotated[str | None, Query(description="<codec>_<sample rate>[_<kbps>]: pcm_8000 .. pcm_48000, "
                                                       "mp3_22050_32 .. mp3_44100_192, ulaw_8000, alaw_8000, "
                                                       "opus_48000_32 .. opus_48000_192; default mp3_44100_128.")]


class ElevenLabsRoute(APIRoute):
    """Checks the key first (before the body is read) and answers every error in ElevenLabs' shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                settings = request.app.state.serving.settings
                if not (settings.public_lists and request.method in READ_ONLY_METHODS):
                    given = dialect_key(request.headers, request.query_params)
                    if not key_accepted(settings.api_keys, given):
                        raise AuthenticationError("the API key is not valid" if given else "an API key is required: "
                                                  "send the xi-api-key header")
                return await handler(request)
            except KokoroError as exc:
                headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, BusyError) else None
                return JSONResponse(rest_error(error_status(exc), exc.message), exc.status_code, headers=headers)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
                return JSONResponse(rest_error("invalid_request", f"invalid value for {where!r}: "
                                                                  f"{first.get('msg', 'invalid')}"), 400)
            except HTTPException as exc:
                return JSONResponse(rest_error("invalid_request", str(exc.detail)), exc.status_code)

        return route


router = APIRouter(prefix="/v1", tags=["elevenlabs"], route_class=ElevenLabsRoute)
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid request"}, 401: {"model": ErrorBody, "description": "API key"},
    404: {"model": ErrorBody, "description": "Unknown model"},
    413: {"model": ErrorBody, "description": "Text too long"},
    424: {"model": ErrorBody, "description": "Model files missing"}, 429: {"model": ErrorBody, "description": "Busy"}}
AUDIO = {**ERRORS, 200: {"content": {t: {} for t in sorted({f.content_type for f in OUTPUT_FORMATS.values()})},
                         "description": "The audio in output_format"}}
LINES = {**ERRORS, 200: {"content": {"application/x-ndjson": {}},
                         "description": "One JSON object per line: audio_base64, alignment, normalized_alignment"}}


async def _started(state: Serving, request: Request, voice_id: str, body: TextToSpeechBody,
                   output_format: str | None) -> RestSpeech:
    return await start_rest_speech(state, voice_id, body, output_format, request_id=request_id(request))


@router.post("/text-to-speech/{voice_id:path}/stream/with-timestamps", response_class=StreamingResponse,
             responses=LINES)
async def text_to_speech_stream_with_timestamps(voice_id: str, request: Request,
                                                body: Annotated[TextToSpeechBody, Body()],
                                                output_format: OutputFormat = None,
                                                state: Serving = Depends(serving)) -> Response:
    """One JSON object per line as the audio is synthesized: base64 audio and its characters' times."""
    speech = await _started(state, request, voice_id, body, output_format)

    async def lines() -> Any:
        async for chunk in speech.timed():
            yield json.dumps(chunk) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson", headers=STREAM_HEADERS)


@router.post("/text-to-speech/{voice_id:path}/stream", response_class=StreamingResponse, responses=AUDIO)
async def text_to_speech_stream(voice_id: str, request: Request, body: Annotated[TextToSpeechBody, Body()],
                                output_format: OutputFormat = None, state: Serving = Depends(serving)) -> Response:
    """The audio as it is synthesized."""
    speech = await _started(state, request, voice_id, body, output_format)
    return StreamingResponse(speech.audio(), media_type=speech.format.content_type, headers=STREAM_HEADERS)


@router.post("/text-to-speech/{voice_id:path}/with-timestamps", responses=ERRORS)
async def text_to_speech_with_timestamps(voice_id: str, request: Request, body: Annotated[TextToSpeechBody, Body()],
                                         output_format: OutputFormat = None,
                                         state: Serving = Depends(serving)) -> JSONResponse:
    """The whole audio (base64) with every character's start and end (seconds)."""
    speech = await _started(state, request, voice_id, body, output_format)
    audio, alignment, normalized = b"", _empty(), _empty()
    async for chunk in speech.timed():
        audio += _decoded(chunk["audio_base64"])
        for whole, part in ((alignment, chunk["alignment"]), (normalized, chunk["normalized_alignment"])):
            if part is not None:
                for key in whole:
                    whole[key].extend(part[key])
    return JSONResponse({"audio_base64": base64.b64encode(audio).decode(), "alignment": alignment,
                         "normalized_alignment": normalized})


@router.post("/text-to-speech/{voice_id:path}", response_class=Response, responses=AUDIO)
async def text_to_speech(voice_id: str, request: Request, body: Annotated[TextToSpeechBody, Body()],
                         output_format: OutputFormat = None, state: Serving = Depends(serving)) -> Response:
    """The whole audio at once."""
    speech = await _started(state, request, voice_id, body, output_format)
    data = b"".join([part async for part in speech.audio()])
    return Response(data, media_type=speech.format.content_type)


def _empty() -> dict[str, list[Any]]:
    return {"characters": [], "character_start_times_seconds": [], "character_end_times_seconds": []}


def _decoded(data: str) -> bytes:
    return base64.b64decode(data)


# -- voices -----------------------------------------------------------------------------------

def _voice(state: Serving, build: Any, info: Any) -> dict[str, Any]:
    voice = voice_object(state.service, build, info)
    language = voice.language.split("-")[0]
    return {"voice_id": voice.id, "name": voice.name, "category": "premade",
            "labels": {"language": language, "accent": voice.language, "gender": voice.gender,
                       "model": voice.model},
            "description": f"Kokoro {build.title} voice, {voice.language_name}, {voice.gender}",
            "preview_url": None, "available_for_tiers": [], "settings": None,
            "high_quality_base_model_ids": [voice.model],
            "verified_languages": [{"language": language, "model_id": voice.model, "accent": voice.language}]}


def _voices(state: Serving) -> list[dict[str, Any]]:
    service = state.service
    return [_voice(state, build, info) for build in BUILDS.values() for info in service.voices.list(build)]


@router.get("/voices", responses=ERRORS)
async def list_voices(state: Serving = Depends(serving)) -> JSONResponse:
    """Every installed voice, in ElevenLabs' shape (``voice_id`` is the id to synthesize with)."""
    voices = await run_in_threadpool(_voices, state)
    return JSONResponse({"voices": voices, "has_more": False, "total_count": len(voices), "next_page_token": None})


@router.get("/voices/{voice_id:path}", responses=ERRORS)
async def get_voice(voice_id: str, state: Serving = Depends(serving)) -> JSONResponse:
    voices = await run_in_threadpool(_voices, state)
    for voice in voices:
        if voice["voice_id"] == voice_id:
            return JSONResponse(voice)
    raise VoiceNotFoundError(f"A voice with the voice_id {voice_id!r} was not found", param="voice_id")


# -- WebSockets -------------------------------------------------------------------------------

@router.websocket("/text-to-speech/{voice_id:path}/stream-input")
async def stream_input(websocket: WebSocket, voice_id: str) -> None:
    """One text stream in, audio and alignments out."""
    await SocketSession(websocket, websocket.app.state.serving, voice_id, multi=False).run()


@router.websocket("/text-to-speech/{voice_id:path}/multi-stream-input")
async def multi_stream_input(websocket: WebSocket, voice_id: str) -> None:
    """Several text streams (contexts) on one socket."""
    await SocketSession(websocket, websocket.app.state.serving, voice_id, multi=True).run()
