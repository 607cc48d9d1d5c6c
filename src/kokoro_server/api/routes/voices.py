"""Voices: ``GET /v1/audio/voices`` (per version) and ``POST /v1/audio/voices/combine``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kokoro_server.api.protocol import (OPENAI_VOICES, CombineBody, ErrorBody, LegacyVoiceList, VoiceList,
                                        VoiceObject)
from kokoro_server.api.security import KEYED
from kokoro_server.api.state import Serving, serving
from kokoro_server.builds import BUILDS, Build, resolve_model_name
from kokoro_server.serving.combine import combine_voices
from kokoro_server.service import SpeechService
from kokoro_server.voices.library import VoiceInfo

router = APIRouter(prefix="/v1/audio/voices", tags=["voices"], **KEYED)


def voice_object(service: SpeechService, build: Build, info: VoiceInfo) -> VoiceObject:
    language = build.languages.get(info.language)
    stem = info.name[3:] if info.name[2:3] == "_" else info.name
    default = build.version == service.settings.default_model
    return VoiceObject(
        id=service.voice_id(build, info.name),
        name=f"{stem.replace('_', ' ').title()} ({info.language_name}, {info.gender})",
        language=language.tag if language else "und", language_code=info.language,
        language_name=info.language_name, gender=info.gender, version=build.version,
        model=build.model_names[0], supported=info.supported,
        openai_names=[o for o, k in OPENAI_VOICES.items() if k == info.name] if default else [])


@router.get("", response_model=VoiceList | LegacyVoiceList, responses={404: {"model": ErrorBody}})
async def list_voices(model: str | None = None, legacy: bool = False,
                      state: Serving = Depends(serving)) -> VoiceList | LegacyVoiceList:
    """Installed voices of every version, or of the version ``model`` names; ids are unique across
    versions. ``legacy=true``: only the ids, as Kokoro-FastAPI's ``{"voices": ["af_bella", ...]}``."""
    service = state.service
    builds = [resolve_model_name(model, service.settings.default_model)] if model else list(BUILDS.values())

    def collect() -> list[VoiceObject]:
        return [voice_object(service, b, info) for b in builds for info in service.voices.list(b)]

    voices = await run_in_threadpool(collect)
    return LegacyVoiceList(voices=[v.id for v in voices]) if legacy else VoiceList(voices=voices)


@router.post("/combine", response_class=Response, responses={
    200: {"content": {"application/octet-stream": {}}, "description": "The mixed voice pack (.pt)."},
    400: {"model": ErrorBody}, 404: {"model": ErrorBody}, 409: {"model": ErrorBody}})
async def combine(sent: Annotated[CombineBody | str | list[str], Body()],
                  state: Serving = Depends(serving)) -> Response:
    """Mix voices into one pack, returned as a ``.pt`` file; with ``name`` it is also installed. The
    body is an object, or as Kokoro-FastAPI's clients send it a bare mix string or list of voices."""
    body = CombineBody.of(sent)
    combined = await run_in_threadpool(combine_voices, state.service, body.spec(), model=body.model,
                                       save_as=body.name)
    headers = {"Content-Disposition": f'attachment; filename="{combined.file_name}"',
               "X-Voice-Mix": combined.mix.canonical, "X-Voice-Version": combined.build.version}
    if combined.saved is not None:
        headers["X-Voice-Saved"] = state.service.voice_id(combined.build, combined.saved.stem)
    return Response(combined.data, media_type="application/octet-stream", headers=headers)
