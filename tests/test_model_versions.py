"""Adding a model version is one build (its download manifest included) and one registration line: a
build registered here, in the test, is routed to, listed by ``/v1/models`` and ``kokoro-server
models``, downloaded by ``kokoro-server download`` from its own manifest, and speaks."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import httpx
import pytest

from kokoro_server.builds import BUILDS, DEFAULT_VERSION, get_build, resolve_model_name
from kokoro_server.builds.base import WeightFile
from kokoro_server.builds.downloads import DownloadManifest, HubFile
from kokoro_server.cli import main
from kokoro_server.service import SpeechRequest, SpeechService
from kokoro_server.settings import Settings
from tests.support.hub import FakeHub
from tests.support.server import ServerThread

VERSION = "v9_9"
REPO, REVISION = "tests/Kokoro-test", "9" * 40


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def new_build(monkeypatch: pytest.MonkeyPatch, assets: Path, model_file: Path):
    """A new version: v1.0's architecture under another name, published in a (stand-in) hub repo."""
    voice = assets / "voices" / "v1_0" / "af_heart.pt"
    manifest = DownloadManifest(
        repo=REPO, revision=REVISION, voice_sha256={"af_heart": sha256(voice)},
        weights={"onnx": HubFile(REPO, REVISION, "onnx/model.onnx", "models", "kokoro-v9_9.onnx",
                                 sha256=sha256(model_file))},
        default_weights="onnx")
    build = dataclasses.replace(get_build("v1_0"), version=VERSION, title="Kokoro-82M test build",
                                weight_files=(WeightFile("kokoro-v9_9.onnx", "onnx"),), embedded=None,
                                embedded_voices=None, downloads=manifest, notes="a build made by a test")
    monkeypatch.setitem(BUILDS, VERSION, build)  # the registration line
    files = {"config.json": assets / "builds" / "v1_0" / "config.json", "onnx/model.onnx": model_file,
             "voices/af_heart.pt": voice}

    def route(repo: str, revision: str, path: str) -> Path | None:
        return files.get(path) if (repo, revision) == (REPO, REVISION) else None

    with FakeHub(route) as hub:
        yield build, hub


@pytest.fixture(autouse=True)
def no_proxy_for_the_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def test_a_registered_build_is_found_everywhere(new_build, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build, hub = new_build
    data = tmp_path / "data"
    assert resolve_model_name("kokoro-v9_9", DEFAULT_VERSION) is build  # routing
    assert resolve_model_name(VERSION, DEFAULT_VERSION) is build

    assert main(["--data-dir", str(data), "models"]) == 0  # listed before its files are there ...
    out = capsys.readouterr().out
    assert "v9_9 (Kokoro-82M test build): NOT READY" in out, out
    assert "run `kokoro-server download -m v9_9 --weights onnx" in out, out  # ... with the fetch command

    assert main(["--data-dir", str(data), "download", "-m", "kokoro-v9_9", "--hub-url", hub.url, "-q"]) == 0
    assert sha256(data / "models" / VERSION / "kokoro-v9_9.onnx") == build.downloads.weights["onnx"].sha256
    assert (data / "voices" / VERSION / "af_heart.pt").is_file()
    assert {r.path.split("?")[0].rsplit("/", 1)[-1] for r in hub.requests("GET")} >= {"config.json", "model.onnx",
                                                                                       "af_heart.pt"}
    capsys.readouterr()
    assert main(["--data-dir", str(data), "models"]) == 0
    out = capsys.readouterr().out
    assert "v9_9 (Kokoro-82M test build): ready" in out and "kokoro-v9_9.onnx" in out, out

    settings = Settings(data_dir=data, threads=1, concurrency=1)
    service = SpeechService(settings)
    try:  # a voice only the new version has is routed to it
        prepared = service.prepare(SpeechRequest(text="Hello.", voice=f"{VERSION}/af_heart"))
        assert prepared.build is build
        assert sum(piece.audio.size for piece in service.stream(prepared)) > 12_000
    finally:
        service.close()

    server = ServerThread(settings).start()
    try:
        listed = httpx.get(server.url + "/v1/models", timeout=30).json()["data"]
        ours = [m for m in listed if m["id"] == "kokoro-v9_9"]
        assert ours and ours[0]["version"] == VERSION and ours[0]["status"] in ("ready", "loaded"), listed
        speech = httpx.post(server.url + "/v1/audio/speech", timeout=120,
                            json={"model": "kokoro-v9_9", "input": "Hello.", "voice": "af_heart",
                                  "response_format": "wav"})
        assert speech.status_code == 200 and len(speech.content) > 24_000, speech.text
    finally:
        server.stop()
