"""Run the real app under uvicorn on 127.0.0.1 (a free port) in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from kokoro_server.api.app import create_app
from kokoro_server.api.state import Serving
from kokoro_server.settings import Settings


def writable_data_dir(root: Path, shared: Path) -> Path:
    """A data dir beside ``shared``: the same models folder, and a v1.0 voices folder of links to the
    shared packs that tests may add voices to (the shared assets are read-only)."""
    (shared / "models").mkdir(exist_ok=True)
    (root / "models").symlink_to(shared / "models", target_is_directory=True)
    voices = root / "voices" / "v1_0"
    voices.mkdir(parents=True)
    for pack in sorted((shared / "voices" / "v1_0").iterdir()):
        (voices / pack.name).symlink_to(pack.resolve())
    (root / "voices" / "v0_19").symlink_to((shared / "voices" / "v0_19").resolve(), target_is_directory=True)
    return root


class ServerThread:
    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="uvicorn-test", daemon=True)

    @property
    def serving(self) -> Serving:
        return self.app.state.serving

    def start(self, *, ready_timeout: float = 180.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/ready", timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if not self._thread.is_alive():
                raise RuntimeError("the test server thread died during start-up")
            time.sleep(0.2)
        raise TimeoutError("the test server did not become ready")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()


@contextmanager
def plain_server(data_dir: Path, *, timeout: float = 180.0) -> Iterator[httpx.Client]:
    """A running server with the default settings over ``data_dir`` (v1.0 preloaded, one synthesis at
    a time) and an httpx client for it; stopped on exit."""
    running = ServerThread(Settings(data_dir=data_dir, threads=2, concurrency=1, preload=["v1_0"])).start()
    try:
        with httpx.Client(base_url=running.url, timeout=timeout) as client:
            yield client
    finally:
        running.stop()
