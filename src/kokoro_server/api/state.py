"""The one app state object: the serving objects the lifespan builds, shared by all routes."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from kokoro_server.serving.download_links import DownloadStore
from kokoro_server.serving.jobs import JobsServing
from kokoro_server.serving.live_speech import Connections
from kokoro_server.serving.runner import SynthesisRunner
from kokoro_server.serving.session import Sessions
from kokoro_server.service import SpeechService
from kokoro_server.settings import Settings


@dataclass
class Preload:
    done: bool = False
    problems: dict[str, str] = field(default_factory=dict)  # version -> why it did not load


@dataclass
class Serving:
    settings: Settings
    service: SpeechService
    runner: SynthesisRunner
    downloads: DownloadStore
    sessions: Sessions  # opens the speech session of each speech request (serving/session.py)
    preload: Preload = field(default_factory=Preload)
    connections: Connections = field(default_factory=Connections)  # voice agents' sockets (live_speech.py)
    jobs: JobsServing | None = None  # book jobs (None: the data dir cannot hold them)


def serving(request: Request) -> Serving:
    """FastAPI dependency: the app's serving objects."""
    return request.app.state.serving


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", "-")
