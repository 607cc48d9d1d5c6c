"""The registry of model builds. Adding a version means adding one sub-package (``builds/<version>/``:
config, vocabulary, front end, checkpoint and voice formats, download manifest) and one line here.

Everything else finds versions here: request routing and ``/v1/models`` (:func:`resolve_model_name`,
:func:`model_aliases`), ``kokoro-server models`` / ``voices`` / ``download`` (``build.downloads``),
the data dir (``models/<version>/``, ``voices/<version>/``) and the engine.
"""

from __future__ import annotations

import re

from kokoro_server.builds import v0_19, v1_0
from kokoro_server.builds.base import MAX_TOKENS, Build
from kokoro_server.errors import ModelNotFoundError, quote

BUILDS: dict[str, Build] = {build.version: build for build in (v1_0.BUILD, v0_19.BUILD)}

DEFAULT_VERSION = v1_0.BUILD.version
"""The version a request that names none gets (``KOKORO_DEFAULT_MODEL`` overrides it)."""

__all__ = ["BUILDS", "DEFAULT_VERSION", "MAX_TOKENS", "Build", "get_build", "official_files"]


def get_build(version: str) -> Build:
    try:
        return BUILDS[version]
    except KeyError:
        known = ", ".join(BUILDS)
        raise ModelNotFoundError(f"unknown model version {quote(version)}; known versions: {known}",
                                 param="model") from None


OPENAI_TTS_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
# OpenAI's TTS model names and their snapshots: tts-1-1106, tts-1-hd-1106, gpt-4o-mini-tts-2025-03-20, ...
_OPENAI_TTS_MODEL = re.compile(r"(tts-1|tts-1-hd|gpt-4o-mini-tts)(-\d{4}(-\d{2}-\d{2})?)?")


def is_openai_tts_model(name: str) -> bool:
    """Any OpenAI TTS model name (a snapshot too): the default model, so OpenAI clients work unchanged."""
    return _OPENAI_TTS_MODEL.fullmatch(name.strip().lower()) is not None


def model_aliases(default_version: str) -> dict[str, str]:
    """The listed ``model`` names -> build versions (OpenAI's snapshots are accepted too, not listed)."""
    aliases = {"kokoro": default_version} | {name: default_version for name in OPENAI_TTS_MODELS}
    for build in BUILDS.values():
        aliases[build.version] = build.version
        for name in build.model_names:
            aliases[name] = build.version
    return aliases


def version_named(name: str) -> str | None:
    """The version a model name names itself (``kokoro-v0_19``, ``v0_19``); None for the names of
    whatever the default model is (``kokoro``, ``tts-1``, ...) and for unknown names."""
    key = name.strip().lower()
    return next((b.version for b in BUILDS.values() if key == b.version.lower() or
                 key in (n.lower() for n in b.model_names)), None)


def resolve_model_name(name: str, default_version: str) -> Build:
    aliases = model_aliases(default_version)
    version = aliases.get(name.strip()) or aliases.get(name.strip().lower())
    if version is None and is_openai_tts_model(name):
        version = default_version
    if version is None:
        raise ModelNotFoundError(f"unknown model {quote(name)}; use one of: {', '.join(aliases)}", param="model")
    return BUILDS[version]


def official_files() -> dict[str, str]:
    """SHA-256 -> name of every published weights file whose digest a build's manifest knows."""
    return {file.sha256: file.name for build in BUILDS.values() if build.downloads is not None
            for file in build.downloads.weights.values() if file.sha256}
