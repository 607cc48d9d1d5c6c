"""The HTTP API on a real uvicorn server, driven by the official ``openai`` client and ``httpx``.

One server for the module (real model, real voices); short texts keep CPU synthesis cheap.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from kokoro_server.audio.encoders import FORMATS
from kokoro_server.voices.packs import read_pack_file
from kokoro_server.voices.torch_pickle import load_tensor_file
from tests.support.audio import SAMPLE_RATE, assert_speech_like, decode, rms
from tests.support.server import ServerThread, writable_data_dir

API_KEY = "test-key"
ORIGIN = "http://ui.example"
MAX_CHARS = 2000
SHORT = "Hello there, this is a short test."
ERROR_KEYS = {"message", "type", "param", "code"}
LOSSLESS = ("pcm", "wav", "flac")
OPENAI_FIELDS = {"model", "input", "voice", "response_format", "speed", "stream_format", "instructions"}


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from kokoro_server.settings import Settings

    root = writable_data_dir(tmp_path_factory.mktemp("api-data"), data_dir)
    settings = Settings(data_dir=root, threads=2, concurrency=1, queue_size=3, api_keys=[API_KEY],
                        cors_origins=[ORIGIN], max_input_chars=MAX_CHARS, preload=["v1_0"])
    running = ServerThread(settings).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server: ServerThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=API_KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def http(server: ServerThread):
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def reference(client: openai.OpenAI) -> np.ndarray:
    """SHORT as raw pcm (not streamed): the duration every format must match."""
    data = client.audio.speech.create(model="kokoro", voice="af_heart", input=SHORT, response_format="pcm",
                                      extra_body={"stream": False}).content
    audio, _ = decode(data, "pcm")
    assert_speech_like(audio, min_seconds=1.0, max_seconds=6.0)
    return audio


def seconds(audio: np.ndarray) -> float:
    return audio.size / SAMPLE_RATE


def decoded(data: bytes, fmt: str) -> np.ndarray:
    """Decoded audio at 24 kHz (an Opus decoder gives 48 kHz: brought back by interpolation)."""
    audio, rate = decode(data, "pcm" if fmt == "pcm" else None)
    if rate != SAMPLE_RATE:
        assert fmt == "opus" and rate == 48_000, (fmt, rate)
        audio = np.interp(np.arange(audio.size * SAMPLE_RATE // rate) * (rate / SAMPLE_RATE),
                          np.arange(audio.size), audio).astype(np.float32)
    return audio


# -- audio ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_streamed_and_whole_decodes_to_the_expected_duration(client, reference, fmt):
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="af_heart", input=SHORT, response_format=fmt) as response:
        assert response.headers["content-type"] == FORMATS[fmt].content_type
        assert "content-length" not in response.headers  # chunked: audio flows as it is made
        streamed = b"".join(response.iter_bytes())
    whole = client.audio.speech.with_raw_response.create(
        model="tts-1-hd", voice="af_heart", input=SHORT, response_format=fmt, extra_body={"stream": False})
    assert int(whole.headers["content-length"]) == len(whole.content)
    expected = seconds(reference)
    pieces = []
    for data in (streamed, whole.content):
        audio = decoded(data, fmt)
        assert abs(seconds(audio) - expected) <= 0.1 * expected, (fmt, seconds(audio), expected)
        assert_speech_like(audio, min_seconds=0.9 * expected, max_seconds=1.1 * expected)
        pieces.append(audio)
    assert pieces[0].size == pieces[1].size, f"{fmt}: streamed {pieces[0].size} samples, whole {pieces[1].size}"
    if fmt in LOSSLESS:  # synthesis is deterministic: the same samples, streamed or whole, as the raw pcm
        np.testing.assert_array_equal(pieces[0], pieces[1])
        np.testing.assert_array_equal(pieces[1], reference)
    if fmt == "wav":  # the whole file's header carries the real sizes
        assert int.from_bytes(whole.content[40:44], "little") == len(whole.content) - 44


def test_sse_events_parse_and_concatenate_to_the_audio(http, reference):
    body = {"model": "kokoro", "input": SHORT, "voice": "af_heart", "response_format": "mp3",
            "stream_format": "sse"}
    events = []
    with http.stream("POST", "/v1/audio/speech", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: "):]))
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1)
    assert len(events) >= 3
    done = events[-1]
    assert done["type"] == "speech.audio.done"
    audio = decoded(b"".join(base64.b64decode(e["audio"]) for e in events[:-1]), "mp3")
    expected = seconds(reference)
    assert abs(seconds(audio) - expected) <= 0.1 * expected
    usage = done["usage"]
    assert usage["input_tokens"] > 10
    assert abs(usage["output_tokens"] - expected * 40) <= 0.1 * expected * 40
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_openai_voice_name_speaks_with_its_kokoro_voice(client, server):
    response = client.audio.speech.with_raw_response.create(
        model="tts-1", voice="alloy", input="Hi there.", response_format="pcm",
        instructions="Speak in a cheerful tone.", extra_headers={"X-Request-ID": "openai-voice-1"})
    assert response.headers["x-request-id"] == "openai-voice-1"
    record = server.serving.runner.record("openai-voice-1")
    assert record is not None and record.voice == "af_alloy" and record.status == "finished"
    assert_speech_like(decoded(response.content, "pcm"), min_seconds=0.4, max_seconds=4.0)


def test_volume_multiplier_scales_the_audio(client, reference):
    quiet = client.audio.speech.create(model="kokoro", voice="af_heart", input=SHORT, response_format="pcm",
                                       extra_body={"volume_multiplier": 0.5}).content
    ratio = rms(decoded(quiet, "pcm")) / rms(reference)
    assert 0.35 <= ratio <= 0.65, ratio


def test_download_link_serves_the_complete_file(http):
    body = {"input": "Keep this one.", "voice": "af_heart", "response_format": "mp3",
            "return_download_link": True}
    with http.stream("POST", "/v1/audio/speech", json=body) as response:
        assert response.status_code == 200
        path = response.headers["x-download-path"]
        streamed = b"".join(response.iter_bytes())
    # relative to /v1, as Kokoro-FastAPI sends it (its clients fetch base URL + path)
    assert path.startswith("/download/") and path.endswith(".mp3")
    kept = httpx.get(http.base_url.join("/v1" + path))  # the random name is the key: no API key needed
    assert kept.status_code == 200 and kept.headers["content-type"] == "audio/mpeg"
    assert kept.content == streamed
    missing = httpx.get(http.base_url.join("/v1/download/nothing-here.mp3"))
    assert missing.status_code == 404 and set(missing.json()["error"]) == ERROR_KEYS


# -- errors -----------------------------------------------------------------------------------

ERROR_CASES = {
    "unknown model": ({"model": "tts-9"}, 404, "model_not_found", "model"),
    "unknown voice": ({"voice": "af_nobody"}, 400, "voice_not_found", "voice"),
    "bad mix": ({"voice": "af_bella(2)+"}, 400, "invalid_voice", "voice"),
    "empty input": ({"input": "   "}, 400, "invalid_input", "input"),
    "oversize input": ({"input": "a" * (MAX_CHARS + 1)}, 413, "input_too_long", "input"),
    "bad speed": ({"speed": 5.0}, 400, None, "speed"),
    "bad format": ({"response_format": "ogg"}, 400, None, "response_format"),
    "bad stream format": ({"stream_format": "websocket"}, 400, None, "stream_format"),
    "unknown language": ({"lang_code": "q"}, 400, "invalid_input", "lang_code"),
    "missing model files": ({"model": "kokoro-v0_19", "voice": "af_bella"}, 424, "model_files_missing", "model"),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_errors_have_the_right_status_and_openai_body(client, case):
    change, status, code, param = ERROR_CASES[case]
    request = {"model": "kokoro", "voice": "af_heart", "input": "Hello.", "response_format": "mp3", **change}
    extra = {key: request.pop(key) for key in list(request) if key not in OPENAI_FIELDS}
    with pytest.raises(openai.APIStatusError) as caught:
        client.audio.speech.create(**request, extra_body=extra)
    error = caught.value
    assert error.status_code == status
    body = error.response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS
    assert body["error"]["message"] and body["error"]["param"] == param
    if code is not None:
        assert body["error"]["code"] == code
    if case == "missing model files":  # names the file and the way to get it
        assert "kokoro-v0_19.onnx" in error.message and "kokoro-server download -m v0_19" in error.message


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": "Basic x"}])
def test_api_key_is_required_when_configured(server, headers):
    response = httpx.post(server.url + "/v1/audio/speech", json={"input": "Hi."}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert response.json()["error"]["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.url + "/v1", api_key="wrong-key", max_retries=0).models.list()


def test_malformed_and_oversized_bodies_are_openai_errors(http):
    broken = http.post("/v1/audio/speech", content=b'{"input": "Hi",', headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"
    missing = http.post("/v1/audio/speech", json={"voice": "af_heart"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "input"
    huge = http.post("/v1/audio/speech", content=b" " * (MAX_CHARS * 6 + 70_000),
                     headers={"Content-Type": "application/json"})
    assert huge.status_code == 413 and set(huge.json()["error"]) == ERROR_KEYS
    nowhere = http.get("/v1/no/such/route")
    assert nowhere.status_code == 404 and set(nowhere.json()["error"]) == ERROR_KEYS


# -- serving behaviour ------------------------------------------------------------------------

def test_client_disconnect_stops_synthesis(http, server):
    runner = server.serving.runner
    paragraphs = [f"Paragraph {word} is short, and it ends here." for word in
                  ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                   "twelve")]
    body = {"input": "\n\n".join(paragraphs), "voice": "af_heart", "response_format": "pcm"}
    with http.stream("POST", "/v1/audio/speech", json=body, headers={"X-Request-ID": "disconnect-1"}) as response:
        assert response.status_code == 200
        first = next(response.iter_raw())
        assert first
    # leaving the block closed the connection mid-stream: the record must end as cancelled
    record = runner.record("disconnect-1")
    assert record is not None
    deadline = time.monotonic() + 60
    while record.status == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert record.status == "cancelled"
    # each paragraph is its own chunk (12); only the one sent and at most the one in progress ran
    assert 1 <= record.chunks <= 2, record.chunks
    synthesized = runner.totals.chunks
    time.sleep(1.0)
    assert runner.totals.chunks == synthesized and runner.running == 0


def test_burst_of_20_requests_complete_or_get_429_and_health_answers(server):
    headers = {"Authorization": f"Bearer {API_KEY}"}
    body = {"input": "Hi there.", "voice": "af_heart", "response_format": "pcm", "stream": False}

    def post(_: int) -> httpx.Response:
        return httpx.post(server.url + "/v1/audio/speech", json=body, headers=headers, timeout=300)

    health: list[int] = []
    stop = threading.Event()

    def poll_health() -> None:
        while not stop.is_set():
            health.append(httpx.get(server.url + "/health", timeout=5).status_code)
            time.sleep(0.1)

    poller = threading.Thread(target=poll_health)
    poller.start()
    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            responses = list(pool.map(post, range(20)))
    finally:
        stop.set()
        poller.join()
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(200) >= 1 and statuses.count(429) >= 1, statuses
    for r in responses:
        if r.status_code == 429:
            assert int(r.headers["retry-after"]) >= 1
            assert r.json()["error"]["code"] == "queue_full" and r.json()["error"]["type"] == "rate_limit_error"
        else:
            assert_speech_like(decoded(r.content, "pcm"), min_seconds=0.3, max_seconds=4.0)
    assert health and set(health) == {200}
    assert httpx.get(server.url + "/ready").status_code == 200
    assert server.serving.runner.running == 0 and server.serving.runner.waiting == 0


# -- voices -----------------------------------------------------------------------------------

def test_voice_list_per_version(http):
    everything = http.get("/v1/audio/voices").json()["voices"]
    heart = next(v for v in everything if v["id"] == "af_heart")
    assert heart["version"] == "v1_0" and heart["gender"] == "female" and heart["language"] == "en-us"
    assert heart["language_code"] == "a" and heart["name"] and heart["model"] == "kokoro-v1_0"
    assert "coral" in heart["openai_names"]
    old = http.get("/v1/audio/voices", params={"model": "kokoro-v0_19"}).json()["voices"]
    assert old and {v["version"] for v in old} == {"v0_19"}
    assert {v["version"] for v in everything} == {"v1_0", "v0_19"}
    assert http.get("/v1/audio/voices", params={"model": "nope"}).status_code == 404


def test_combine_returns_the_mixed_pack_and_saves_it_by_name(http, data_dir, tmp_path):
    response = http.post("/v1/audio/voices/combine", json={"voices": "af_bella(2)+af_sky(1)"})
    assert response.status_code == 200 and response.headers["x-voice-version"] == "v1_0"
    assert 'filename="af_bella+af_sky.pt"' in response.headers["content-disposition"]
    (tmp_path / "mix.pt").write_bytes(response.content)
    mixed = load_tensor_file(tmp_path / "mix.pt")
    voices = data_dir / "voices" / "v1_0"
    expected = (2 * read_pack_file(voices / "af_bella.pt").astype(np.float64)
                + read_pack_file(voices / "af_sky.pt").astype(np.float64)) / 3
    assert mixed.shape == (510, 1, 256)
    np.testing.assert_allclose(mixed, expected, atol=1e-6)

    saved = http.post("/v1/audio/voices/combine", json={"voices": ["af_bella", "af_sky"], "name": "af_apimix"})
    assert saved.status_code == 200 and saved.headers["x-voice-saved"] == "af_apimix"
    assert "af_apimix" in {v["id"] for v in http.get("/v1/audio/voices").json()["voices"]}
    spoken = http.post("/v1/audio/speech", json={"input": "Hi.", "voice": "af_apimix", "response_format": "pcm"})
    assert spoken.status_code == 200
    assert_speech_like(decoded(spoken.content, "pcm"), min_seconds=0.3, max_seconds=3.0)

    again = http.post("/v1/audio/voices/combine", json={"voices": "af_bella", "name": "af_apimix"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "voice_exists"
    for bad in ("af mix", "mymix", "af_x(2)"):
        refused = http.post("/v1/audio/voices/combine", json={"voices": "af_bella", "name": bad})
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "name", bad
    assert http.post("/v1/audio/voices/combine", json={"voices": "af_bella+"}).status_code == 400


def test_combine_takes_kokoro_fastapi_bare_bodies(http, tmp_path):
    """Kokoro-FastAPI's clients post the mix itself: a JSON string or a JSON list of voices."""
    as_object = http.post("/v1/audio/voices/combine", json={"voices": "af_bella+af_sky"})
    for body in ("af_bella+af_sky", ["af_bella", "af_sky"]):
        response = http.post("/v1/audio/voices/combine", json=body)
        assert response.status_code == 200, response.text
        assert response.headers["x-voice-mix"] == as_object.headers["x-voice-mix"]
        (tmp_path / "bare.pt").write_bytes(response.content)
        (tmp_path / "object.pt").write_bytes(as_object.content)
        np.testing.assert_array_equal(load_tensor_file(tmp_path / "bare.pt"), load_tensor_file(tmp_path / "object.pt"))
    for bad in ("nobody+af_sky", [], 3):
        refused = http.post("/v1/audio/voices/combine", json=bad)
        assert 400 <= refused.status_code < 500 and "error" in refused.json(), bad


def test_a_body_sent_as_a_form_is_refused_with_how_to_send_json(http):
    """`curl -d '{...}'` sends application/x-www-form-urlencoded. It is not parsed as JSON (a page of
    another site can send such a body to a local server without a CORS preflight); the error says
    what to send instead."""
    body = '{"model": "kokoro", "input": "Hi.", "voice": "af_heart"}'
    for headers in ({"content-type": "application/x-www-form-urlencoded"}, {"content-type": "text/plain"}):
        refused = http.post("/v1/audio/speech", content=body, headers=headers)
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error["code"] == "unsupported_content_type" and "Content-Type: application/json" in error["message"]
        assert headers["content-type"] in error["message"]
    plain = http.post("/v1/audio/speech", content=body, headers={"content-type": "application/json; charset=utf-8"})
    assert plain.status_code == 200 and plain.content


# -- models, health, docs, CORS -----------------------------------------------------------------

def test_models_are_listed_with_status_and_load_unload(client, http):
    listed = {m.id: m for m in client.models.list()}
    assert {"kokoro", "tts-1", "tts-1-hd", "kokoro-v1_0", "kokoro-v0_19"} <= set(listed)
    assert listed["kokoro"].model_extra["status"] == "loaded"
    old = listed["kokoro-v0_19"].model_extra
    assert old["status"] == "unavailable" and "kokoro-v0_19.onnx" in old["problem"]
    assert http.get("/v1/audio/models").json()["models"]

    refused = http.post("/v1/models/kokoro-v0_19/load")
    assert refused.status_code == 424 and refused.json()["error"]["code"] == "model_files_missing"
    assert http.post("/v1/models/kokoro-v1_0/unload").json()["status"] == "ready"
    assert http.get("/v1/models/tts-1").json()["status"] == "ready"
    assert http.post("/v1/models/tts-1/load").json()["status"] == "loaded"
    assert http.get("/v1/models/nothing").status_code == 404


def test_health_ready_and_docs_need_no_key(server):
    assert httpx.get(server.url + "/health").json()["status"] == "ok"
    public = httpx.get(server.url + "/ready")  # the status code is for probes; the detail needs the key
    assert public.status_code == 200 and public.json() == {"status": "ready"}
    ready = httpx.get(server.url + "/ready", headers={"Authorization": f"Bearer {API_KEY}"}).json()
    assert ready["status"] == "ready" and "v1_0" in ready["loaded"] and "queue" in ready
    assert "text/html" in httpx.get(server.url + "/docs").headers["content-type"]
    assert "/v1/audio/speech" in httpx.get(server.url + "/openapi.json").json()["paths"]


def test_cors_preflight_and_request_ids(server):
    preflight = httpx.options(server.url + "/v1/audio/speech", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    other = httpx.options(server.url + "/v1/audio/speech", headers={
        "Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in other.headers
    tagged = httpx.get(server.url + "/health", headers={"X-Request-ID": "abc-123"})
    assert tagged.headers["x-request-id"] == "abc-123"
    assert len(httpx.get(server.url + "/health").headers["x-request-id"]) == 32


def test_serve_command_starts_the_server(data_dir, tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "KOKORO_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "kokoro_server.cli", "--data-dir", str(data_dir), "serve",
                                "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            pytest.fail("kokoro-server serve did not answer /health")
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models").json()
        assert "kokoro" in {m["id"] for m in models["data"]}
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "Uvicorn running" in output, output
