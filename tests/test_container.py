"""The CPU image: built with podman from the repository's Dockerfile (offline: a local Debian base and
host-built wheels), run as a user would (`docker run -p 8880:8880 IMAGE`), and asked for speech from
the host: it speaks at once, with nothing but the image."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.audio import assert_speech_like, decode
from tests.support.ci import missing
from tests.support.cluster import free_port
from tests.support.container import LIMITS, TOOLS, podman
from tests.support.container import image as build_image

# the first test builds the image: minutes with a warm cache, more on a fresh machine (README: Test)
pytestmark = [pytest.mark.container, pytest.mark.slow, pytest.mark.timeout(2400)]

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def image() -> str:
    """The image of this tree: built here, or found already built (by `.ci/run`'s background
    preparation, or an earlier run of the same tree; tests/support/container.py)."""
    for tool in TOOLS:
        if shutil.which(tool) is None:
            missing(f"{tool} is not installed (apt-get install podman mmdebstrap runc)")
    return build_image(REPO)


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[tuple[str, str]]:
    port = free_port()
    name = f"kokoro-test-{uuid.uuid4().hex[:8]}"
    url = f"http://127.0.0.1:{port}"
    try:
        podman("run", "-d", "--name", name, *LIMITS, "-p", f"127.0.0.1:{port}:8880", image)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(1)
        else:
            pytest.fail(f"the container never became ready:\n{podman('logs', name, check=False).stderr[-3000:]}")
        yield url, name
    finally:
        podman("rm", "-f", name, check=False)


def test_the_image_speaks_at_once(container: tuple[str, str]):
    """No data, no voice named: the embedded model and voice speak (a fallback the header names)."""
    url, name = container
    response = httpx.post(url + "/v1/audio/speech", timeout=120,
                          json={"model": "kokoro", "input": "Hello from the container.", "response_format": "mp3"})
    assert response.status_code == 200, response.text
    audio, _ = decode(response.content, "mp3")
    assert_speech_like(audio, min_seconds=0.8, max_seconds=6)
    assert podman("healthcheck", "run", name, check=False).returncode == 0  # the image's check on /ready


def test_the_image_runs_as_a_user_with_a_data_volume_and_a_readiness_check(image: str):
    inspected = json.loads(podman("image", "inspect", image).stdout)[0]
    config = inspected["Config"]
    assert config["User"] == "kokoro"
    assert "/data" in config["Volumes"] and "KOKORO_DATA_DIR=/data" in config["Env"]
    healthcheck = inspected.get("Healthcheck") or config.get("Healthcheck")  # where podman puts it
    assert any("/ready" in part for part in healthcheck["Test"])


def test_the_image_holds_the_derived_model_file(image: str):
    """Built with `kokoro-server models --derive`: on this (the build's) CPU the image runs the derived
    file from its first start."""
    shown = podman("run", "--rm", *LIMITS, image, "kokoro-server", "models", "-m", "v1_0").stdout
    assert "runs on: onnx (/data/models/v1_0/.derived/" in shown and "bit-identical" in shown, shown
