"""Voices: ``GET /v1/audio/voices`` (per version) and ``POST /v1/audio/voices/combine``."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kokoro_server.api.protocol import OPENAI_VOICES, CombineBody, ErrorBody, VoiceList, VoiceObject
from kokoro_server.api.security import require_api_key
from kokoro_server.api.state import Serving, serving
from kokoro_server.builds import BUILDS, Build, resolve_model_name
from kokoro_server.combine import combine_voices
from kokoro_server.voices.library import VoiceInfo

router = APIRouter(prefix="/v1/audio/voices", tags=["voices"], dependencies=[Depends(require_api_key)])

def voice_object(build: Build, info: VoiceInfo, default_version: str) -> VoiceObject:
    language = build.languages.get(info.language)
    stem = info.name[3:] if info.name[2:3] == "_" else info.name
    return VoiceObject(
        id=info.name, name=f"{stem.replace('_', ' ').title()} ({info.language_name}, {info.gender})",
        language=language.tag if language else "und", language_code=info.language,
        language_name=info.language_name, gender=info.gender, version=build.version,
        model=build.model_names[0], supported=info.supported,
        openai_names=[o for o, k in OPENAI_VOICES.items() if k == info.name]
        if build.version == default_version else [])


@router.get("", response_model=VoiceList, responses={404: {"model": ErrorBody}})
async def list_voices(model: str | None = None, state: Serving = Depends(serving)) -> VoiceList:
    """Installed voices of every version, or of the version ``model`` names."""
    default = state.settings.default_model
    builds = [resolve_model_name(model, default)] if model else list(BUILDS.values())

    def collect() -> list[VoiceObject]:
        return [voice_object(b, info, default) for b in builds for info in state.service.voices.list(b)]

    return VoiceList(voices=await run_in_threadpool(collect))


@router.post("/combine", response_class=Response, responses={
    200: {"content": {"application/octet-stream": {}}, "description": "The mixed voice pack (.pt)."},
    400: {"model": ErrorBody}, 404: {"model": ErrorBody}, 409: {"model": ErrorBody}})
async def combine(body: CombineBody, state: Serving = Depends(serving)) -> Response:
    """Mix voices into one pack, returned as a ``.pt`` file; with ``name`` it is also installed."""
    combined = await run_in_threadpool(combine_voices, state.service, body.spec(), model=body.model,
                                       save_as=body.name)
    headers = {"Content-Disposition": f'attachment; filename="{combined.file_name}"',
               "X-Voice-Mix": combined.mix.canonical, "X-Voice-Version": combined.build.version}
    if combined.saved is not None:
        headers["X-Voice-Saved"] = combined.saved.stem
    return Response(combined.data, media_type="application/octet-stream", headers=headers)
