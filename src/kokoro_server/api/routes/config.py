"""``GET /v1/config``: the server's limits and defaults, for clients such as the web page."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from kokoro_server.api.protocol import LanguageObject, ServerConfig, SpeedRange
from kokoro_server.api.security import KEYED
from kokoro_server.api.state import Serving, serving
from kokoro_server.audio.encoders import FORMATS
from kokoro_server.builds import BUILDS
from kokoro_server.languages import LANGUAGES
from kokoro_server.service import MAX_SPEED, MIN_SPEED

router = APIRouter(prefix="/v1", tags=["config"], **KEYED)


@router.get("/config", response_model=ServerConfig)
async def server_config(state: Serving = Depends(serving)) -> ServerConfig:
    settings = state.settings
    service = state.service
    default_voices = {version: service.voice_id(build, service.default_voice_name(build))
                      for version, build in BUILDS.items()}
    return ServerConfig(max_input_chars=settings.max_input_chars, default_model=settings.default_model,
                        default_voices=default_voices, response_formats=list(FORMATS),
                        speed=SpeedRange(min=MIN_SPEED, max=MAX_SPEED), download_links=state.downloads.enabled,
                        download_ttl_s=settings.download_ttl_s, languages=languages())


def languages() -> list[LanguageObject]:
    """Every registered language pack and the versions that read it."""
    return [LanguageObject(code=pack.code, tag=pack.tag, tags=list(pack.tags), name=pack.name, g2p=pack.g2p.engine,
                           emphasis=pack.g2p.stress,
                           versions=[v for v, build in BUILDS.items() if pack.code in build.languages])
            for pack in LANGUAGES]
