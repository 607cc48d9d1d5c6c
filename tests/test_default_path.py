"""The path every user runs: a server with the default settings, over HTTP.

With the defaults the engine runs the fast variant of the embedded int8 model (its convolutions on
the u8 x s8 GEMM, checked bit-identical when derived) with the durations output added for word
timings. Here a default server and a server told to run the plain model (``fast_model=False``)
answer the same requests: speech, SSE word events and captions. Where the variant runs it is exact,
so the audio must be the plain model's sample for sample and the word timings the same; the speech
itself is checked by Whisper against words written out by hand. Where the native vocoder kernels
passed the quality bar on this CPU they are in the default file too: then the audio keeps the plain
model's durations and the bar (not sample equality) judges it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from kokoro_server.cli import main
from kokoro_server.settings import Settings
from tests.support.audio import SAMPLE_RATE, assert_speech_like, decode
from tests.support.models import DefaultModels
from tests.support.server import ServerThread, writable_data_dir
from tests.support.whisper import word_errors, words

TEXT = ("The old lighthouse keeper climbed the stairs at dusk. He lit the lamp, and the ships passed safely "
        "through the night.")
# what a person reading TEXT says, written by hand
SPOKEN = ("the old lighthouse keeper climbed the stairs at dusk he lit the lamp and the ships passed safely "
          "through the night").split()


def start(data_dir: Path, root: Path, **settings: object) -> ServerThread:
    return ServerThread(Settings(data_dir=writable_data_dir(root, data_dir), preload=["v1_0"], **settings)).start()


@pytest.fixture(scope="module")
def servers(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, httpx.Client]]:
    """``default``: nothing but the data dir set; ``plain``: the same with the fast variant off."""
    running = {"default": start(data_dir, tmp_path_factory.mktemp("default-path")),
               "plain": start(data_dir, tmp_path_factory.mktemp("plain-path"), fast_model=False)}
    clients = {name: httpx.Client(base_url=server.url, timeout=120) for name, server in running.items()}
    try:
        yield clients
    finally:
        for name, server in running.items():
            clients[name].close()
            server.stop()


def test_the_default_settings_run_the_fast_variant_with_durations(default_models: DefaultModels, data_dir: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(data_dir), "models"]) == 0  # what `kokoro-server models` tells a user
    out = capsys.readouterr().out
    assert f"runs on: onnx ({default_models.runs})" in out, out  # the derived file, not the source
    assert default_models.runs != default_models.source
    if default_models.variant_runs and default_models.exact:
        assert "bit-identical" in out, out
    if not default_models.exact:  # a lossy recipe (the native kernels) the quality bar passed on this CPU
        assert "passed the quality bar" in out and "native kernels: kokoro_native" in out, out


def same_audio(default: np.ndarray, plain: np.ndarray, exact: bool) -> None:
    """Exact recipes: the plain model's audio sample for sample. A lossy one the quality bar passed
    (the native kernels): the same durations, up to the edge-silence cut (0.1 s); the bar judged the
    sound (tests/test_quality_bar.py) and Whisper the words."""
    if exact:
        np.testing.assert_array_equal(default, plain)
    else:
        assert abs(default.size - plain.size) <= SAMPLE_RATE // 10, (default.size, plain.size)


def same_words(default: list[dict], plain: list[dict], exact: bool) -> None:
    if exact:
        assert default == plain
    else:  # the same words; times from the same durations, shifted at most by the edge-silence cut
        assert [w["word"] for w in default] == [w["word"] for w in plain]
        assert all(abs(a[k] - b[k]) <= 0.1 for a, b in zip(default, plain) for k in ("start_time", "end_time"))


@pytest.mark.slow
def test_speech_on_the_default_path_is_the_plain_models_audio_and_says_the_words(servers, transcriber,
                                                                                 default_models: DefaultModels) -> None:
    body = {"model": "kokoro", "input": TEXT, "voice": "af_heart", "response_format": "pcm", "stream": False}
    default, plain = (servers[name].post("/v1/audio/speech", json=body) for name in ("default", "plain"))
    assert default.status_code == 200 and plain.status_code == 200, (default.text, plain.text)
    audio, _ = decode(default.content, "pcm")
    assert_speech_like(audio, min_seconds=4.0, max_seconds=12.0)
    same_audio(np.frombuffer(default.content, "<i2"), np.frombuffer(plain.content, "<i2"), default_models.exact)
    heard = words(transcriber(audio))
    assert word_errors(SPOKEN, heard) <= 1, heard


def sse(client: httpx.Client, body: dict) -> list[dict]:
    events = []
    with client.stream("POST", "/v1/audio/speech", json=body) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: "):]))
    return events


def test_sse_word_events_on_the_default_path_are_the_plain_models(servers, default_models: DefaultModels) -> None:
    body = {"input": TEXT, "voice": "af_heart", "response_format": "pcm", "stream_format": "sse",
            "timestamps": True, "speed": 1.2}
    default, plain = sse(servers["default"], body), sse(servers["plain"], body)
    samples = np.frombuffer(b"".join(base64.b64decode(e["audio"]) for e in default
                                     if e["type"] == "speech.audio.delta"), "<i2")
    plain_samples = np.frombuffer(b"".join(base64.b64decode(e["audio"]) for e in plain
                                           if e["type"] == "speech.audio.delta"), "<i2")
    same_audio(samples, plain_samples, default_models.exact)
    timed = [w for e in default if e["type"] == "speech.audio.words" for w in e["words"]]
    same_words(timed, [w for e in plain if e["type"] == "speech.audio.words" for w in e["words"]], default_models.exact)
    # the words of the input, each once, in order, inside the audio
    assert [w["word"].strip(".,").lower() for w in timed] == TEXT.replace(".", "").replace(",", "").lower().split()
    assert all(a["start_time"] < a["end_time"] <= b["start_time"] for a, b in zip(timed, timed[1:]))
    assert 0 <= timed[0]["start_time"] and timed[-1]["end_time"] <= samples.size / SAMPLE_RATE


def test_captions_on_the_default_path_are_the_plain_models(servers, default_models: DefaultModels) -> None:
    body = {"input": TEXT, "voice": "af_heart", "caption_format": "json", "response_format": "flac",
            "return_download_link": True}
    answers = {}
    for name, client in servers.items():
        response = client.post("/v1/audio/captions", json=body)
        assert response.status_code == 200, response.text
        kept = client.get("/v1" + response.headers["x-download-path"])
        assert kept.status_code == 200
        answers[name] = response.json(), decode(kept.content, "flac")[0]
    (default_words, default_audio), (plain_words, plain_audio) = answers["default"], answers["plain"]
    same_words(default_words["words"], plain_words["words"], default_models.exact)
    same_audio(default_audio, plain_audio, default_models.exact)
    assert default_words["audio_seconds"] == pytest.approx(default_audio.size / SAMPLE_RATE, abs=0.01)
    assert [w["word"] for w in default_words["words"]][:3] == ["The", "old", "lighthouse"]
