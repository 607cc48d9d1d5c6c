"""The registry of model builds. Adding a version means adding one sub-package and one line here."""

from __future__ import annotations

from kokoro_server.builds import v0_19, v1_0
from kokoro_server.builds.base import MAX_TOKENS, Build
from kokoro_server.errors import ModelNotFoundError

BUILDS: dict[str, Build] = {build.version: build for build in (v1_0.BUILD, v0_19.BUILD)}

__all__ = ["BUILDS", "MAX_TOKENS", "Build", "get_build"]


def get_build(version: str) -> Build:
    try:
        return BUILDS[version]
    except KeyError:
        known = ", ".join(BUILDS)
        raise ModelNotFoundError(f"unknown model version {version!r}; known versions: {known}",
                                 param="model") from None


def model_aliases(default_version: str) -> dict[str, str]:
    """OpenAI ``model`` names -> build versions."""
    aliases = {"kokoro": default_version, "tts-1": default_version, "tts-1-hd": default_version}
    for build in BUILDS.values():
        aliases[build.version] = build.version
        for name in build.model_names:
            aliases[name] = build.version
    return aliases


def resolve_model_name(name: str, default_version: str) -> Build:
    aliases = model_aliases(default_version)
    version = aliases.get(name.strip()) or aliases.get(name.strip().lower())
    if version is None:
        raise ModelNotFoundError(f"unknown model {name!r}; use one of: {', '.join(aliases)}", param="model")
    return BUILDS[version]
