"""The FastAPI application: ``create_app(settings)``.

Its lifespan builds the serving objects once (one :class:`SpeechService`, the synthesis runner, the
download store), keeps them on ``app.state.serving``, preloads ``KOKORO_PRELOAD`` versions in a
thread (``/health`` answers at once; ``/ready`` turns 200 when preloading is done), sweeps expired
downloads and unloads models unused for ``KOKORO_MODEL_TTL_S``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from kokoro_server import __version__
from kokoro_server.api import elevenlabs
from kokoro_server.api.errors import install_error_handler
from kokoro_server.api.middleware import (LOOPBACK_NAMES, REQUEST_ID_HEADER, HostCheckMiddleware,
                                          RequestContextMiddleware, WebSocketOriginMiddleware)
from kokoro_server.api.routes import captions, config, downloads, health, jobs, models, speech, text, voices
from kokoro_server.api.routes.web import mount_web_ui
from kokoro_server.api.state import Serving
from kokoro_server.audio.encoders import StreamingEncoder
from kokoro_server.builds import BUILDS, get_build
from kokoro_server.serving.download_links import DownloadStore
from kokoro_server.serving.jobs import JobsServing
from kokoro_server.serving.runner import SynthesisRunner
from kokoro_server.serving.session import Sessions
from kokoro_server.service import SpeechService
from kokoro_server.settings import Settings

JSON_OVERHEAD_PER_CHAR = 6  # a character may take up to 6 bytes in JSON (\uXXXX)
BODY_SLACK_BYTES = 64 * 1024
SWEEP_EVERY_S = 60.0


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    get_build(settings.default_model)  # a wrong KOKORO_DEFAULT_MODEL fails here, not on each request

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = SpeechService(settings, derive_in_background=True)
        runner = SynthesisRunner(service, concurrency=settings.concurrency, queue_size=settings.queue_size)
        downloads = DownloadStore.for_settings(settings, download_parents(service))
        state = Serving(settings=settings, service=service, runner=runner, downloads=downloads,
                        sessions=Sessions(service, runner, downloads))
        app.state.serving = state
        state.jobs = await JobsServing.start(settings, service, state.runner)
        tasks = [asyncio.create_task(preload(state)), asyncio.create_task(sweep_downloads(state.downloads))]
        if settings.model_ttl_s:
            tasks.append(asyncio.create_task(unload_idle_models(service, settings.model_ttl_s)))
        wyoming = await start_wyoming(state) if settings.wyoming_port else None
        try:
            yield
        finally:
            if wyoming is not None:
                await wyoming.stop()
            for task in tasks:
                task.cancel()
            if state.jobs is not None:
                await state.jobs.close()
            state.runner.close()
            state.downloads.close()
            service.close()

    app = FastAPI(title="kokoro-server", version=__version__, lifespan=lifespan,
                  description="OpenAI-compatible text-to-speech with Kokoro-82M (v1.0 and v0.19).")
    install_error_handler(app)
    default_openapi = app.openapi
    app.openapi = lambda: openapi_without_422(app, default_openapi)  # type: ignore[method-assign]
    for module in (speech, captions, voices, models, config, downloads, health, text, elevenlabs, jobs):
        app.include_router(module.router)
    if settings.web_ui:
        mount_web_ui(app)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                           allow_headers=["*"], expose_headers=[REQUEST_ID_HEADER, "X-Download-Path", "X-Captions-Path",
                                                                "Retry-After", "Content-Disposition"])
    app.add_middleware(WebSocketOriginMiddleware, cors_origins=settings.cors_origins)
    if HostCheckMiddleware.wanted(settings.host, settings.allowed_hosts):
        app.add_middleware(HostCheckMiddleware, allowed=[*LOOPBACK_NAMES, settings.host, *settings.allowed_hosts])
    app.add_middleware(RequestContextMiddleware,
                       max_body_bytes=settings.max_input_chars * JSON_OVERHEAD_PER_CHAR + BODY_SLACK_BYTES,
                       own_limits=jobs.OWN_BODY_LIMITS)
    return app


async def start_wyoming(state: Serving):  # type: ignore[no-untyped-def]
    """KOKORO_WYOMING_PORT: the Wyoming server (Home Assistant) on the same engine and queue."""
    from kokoro_server.api.wyoming.server import WyomingServer

    server = WyomingServer(state)
    await server.start()
    return server


def download_parents(service: SpeechService) -> list[Path]:
    """``<data dir>/downloads``, else (a read-only data dir) a folder of this user's in the temp dir."""
    return [service.data_dir.downloads_dir, Path(tempfile.gettempdir()) / f"kokoro-server-{os.getuid()}-downloads"]


def openapi_without_422(app: FastAPI, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """FastAPI's document, less the 422 it lists for validation errors: they are answered 400 with
    OpenAI's error body (see api/errors.py), which the routes document."""
    if app.openapi_schema is None:
        schema = build()  # cached as app.openapi_schema: edited in place once
        for operations in schema["paths"].values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
    return app.openapi_schema or build()


async def preload(state: Serving) -> None:
    try:
        await asyncio.to_thread(load_versions, state)
    finally:
        state.preload.done = True


def load_versions(state: Serving) -> None:
    """Load each ``KOKORO_PRELOAD`` version and warm its default voice's text front end (and the
    encoders' library, whose first import takes about 0.2 s)."""
    state.preload.problems.update(state.service.models.preload())
    if state.settings.preload:
        StreamingEncoder("mp3").finish()
    for version in state.settings.preload:
        build = BUILDS.get(version)
        if build is None or version in state.preload.problems:
            continue
        language = build.languages.get(build.default_voice[:1])
        if language is not None and language.supported:
            build.make_phonemizer(language.code)("Ready.")


async def unload_idle_models(service: SpeechService, ttl_s: float) -> None:
    """KOKORO_MODEL_TTL_S: free the weights of versions unused that long (checked at a quarter of it)."""
    while True:
        await asyncio.sleep(min(SWEEP_EVERY_S, max(ttl_s / 4, 0.1)))
        await asyncio.to_thread(service.models.unload_idle, ttl_s)


async def sweep_downloads(store: DownloadStore) -> None:
    while True:
        await asyncio.sleep(min(SWEEP_EVERY_S, store.ttl_s))
        await asyncio.to_thread(store.purge)
