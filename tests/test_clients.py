"""Real clients' expectations and the serving hardening, on a real uvicorn server (real model, real
voices): OpenAI's model names, open list routes with keys, unique voice ids across versions,
Kokoro-FastAPI's download path and legacy voice list, bare MP3 frames, the OpenAPI media types, CORS
for a browser-direct client, queued requests of clients that left, the Host check, the key checked
before the body, one traceback per 500, and a schemathesis run over the OpenAPI document.

v0.19 runs here from the seeded random-weight checkpoint (torch backend), so its voices can speak.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from kokoro_server.api.app import create_app
from kokoro_server.api.middleware import HostCheckMiddleware
from kokoro_server.audio.encoders import FORMATS
from kokoro_server.builds import get_build
from kokoro_server.errors import FileProblemError
from kokoro_server.service import SpeechRequest, SpeechService
from kokoro_server.settings import Settings
from tests.conftest import fill_data_dir
from tests.support.audio import SAMPLE_RATE, assert_speech_like, decode
from tests.support.server import ServerThread

KEY = "clients-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
ORIGIN = "http://localhost:8000"  # SillyTavern's own address: it calls the API from the browser
PROXY_HOST = "tts.internal"  # KOKORO_ALLOWED_HOSTS: a name a reverse proxy forwards
QUEUE = 12
ERROR_KEYS = {"message", "type", "param", "code"}


def data_dir_with_v019(root: Path, assets: Path, shared: Path, checkpoint: Path) -> Path:
    """Both versions' voices (read-only links) and both versions runnable: the session's v1.0 model
    folder and the generated v0.19 checkpoint under the name users give it."""
    fill_data_dir(root, assets)
    (shared / "models" / "v1_0").mkdir(parents=True, exist_ok=True)
    (root / "models" / "v0_19").mkdir(parents=True)
    (root / "models" / "v1_0").symlink_to(shared / "models" / "v1_0", target_is_directory=True)
    (root / "models" / "v0_19" / "kokoro-v0_19.pth").symlink_to(checkpoint)
    return root


@pytest.fixture(scope="module")
def server(assets: Path, data_dir: Path, v019_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory):
    root = data_dir_with_v019(tmp_path_factory.mktemp("clients-data"), assets, data_dir, v019_checkpoint)
    settings = Settings(data_dir=root, threads=2, concurrency=1, queue_size=QUEUE, api_keys=[KEY],
                        public_lists=True, cors_origins=[ORIGIN], allowed_hosts=[PROXY_HOST],
                        max_input_chars=4000, preload=["v1_0"])
    running = ServerThread(settings).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server: ServerThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def anon(server: ServerThread):
    """A client without the key (long timeouts: the machine may be busy)."""
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def http(server: ServerThread):
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=120) as c:
        yield c


def pcm_seconds(data: bytes) -> float:
    return len(data) / 2 / SAMPLE_RATE


# -- OpenAI's model names ------------------------------------------------------------------------

def test_every_openai_tts_model_name_is_the_default_model(client, http, server):
    listed = {m.id for m in client.models.list()}
    assert {"kokoro", "tts-1", "tts-1-hd", "gpt-4o-mini-tts"} <= listed
    response = client.audio.speech.with_raw_response.create(
        model="gpt-4o-mini-tts", voice="coral", input="Hi there.", response_format="pcm",
        instructions="Speak warmly.", extra_headers={"X-Request-ID": "gpt-4o-mini-tts-1"})
    assert_speech_like(decode(response.content, "pcm")[0], min_seconds=0.3, max_seconds=4.0)
    record = server.serving.runner.record("gpt-4o-mini-tts-1")
    assert record is not None and record.version == "v1_0" and record.voice == "af_heart"
    for snapshot in ("gpt-4o-mini-tts-2025-03-20", "gpt-4o-mini-tts-2025-12-15", "tts-1-1106", "tts-1-hd-1106",
                     "TTS-1-HD"):
        found = http.get(f"/v1/models/{snapshot}")
        assert found.status_code == 200 and found.json()["version"] == "v1_0", snapshot
    for unknown in ("tts-2", "gpt-4o-mini-tts-latest", "gpt-4o-tts", "tts-1-hd-11"):
        assert http.get(f"/v1/models/{unknown}").status_code == 404, unknown


# -- keys: open lists, the key before the body, /ready's detail ------------------------------------

def test_public_lists_are_open_while_keys_guard_synthesis_and_changes(anon, server):
    for path in ("/v1/audio/voices", "/v1/models", "/v1/models/tts-1", "/v1/audio/models", "/v1/config"):
        response = anon.get(path)  # Open WebUI lists without its key
        assert response.status_code == 200, path
    assert anon.get("/v1/audio/voices").json()["voices"]
    for method, path, body in (("POST", "/v1/audio/speech", {"input": "Hi."}),
                               ("POST", "/v1/audio/voices/combine", {"voices": "af_bella+af_sky", "name": "af_open"}),
                               ("POST", "/v1/models/tts-1/unload", None), ("POST", "/v1/models/tts-1/load", None)):
        refused = anon.request(method, path, json=body)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key", path
    assert not (server.serving.settings.data_dir / "voices" / "v1_0" / "af_open.pt").exists()
    assert server.serving.service.models.status(get_build("v1_0")).loaded  # the unload was refused


def test_the_key_is_checked_before_the_body_is_parsed(anon, server):
    broken = b'{"input": "Hi",'
    headers = {"Content-Type": "application/json"}
    anonymous = anon.post("/v1/audio/speech", content=broken, headers=headers)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["type"] == "authentication_error"
    wrong = anon.post("/v1/audio/speech", content=broken, headers={**headers, "Authorization": "Bearer x"})
    assert wrong.status_code == 401 and wrong.json()["error"]["message"] == "the API key is not valid"
    keyed = anon.post("/v1/audio/speech", content=broken, headers={**headers, **AUTH})
    assert keyed.status_code == 400 and keyed.json()["error"]["code"] == "invalid_json"


def test_ready_keeps_its_status_public_and_its_detail_behind_the_key(anon, server):
    public = anon.get("/ready")
    assert public.status_code == 200 and public.json() == {"status": "ready"}
    detail = anon.get("/ready", headers=AUTH).json()
    assert detail["status"] == "ready" and "v1_0" in detail["loaded"] and detail["queue"]["queue_size"] == QUEUE
    assert anon.get("/ready", headers={"Authorization": "Bearer wrong"}).json() == {"status": "ready"}


# -- voices: unique ids across versions, the legacy list ---------------------------------------------

def test_voice_ids_are_unique_and_each_speaks_with_its_own_version(http, server):
    voices = http.get("/v1/audio/voices").json()["voices"]
    ids = [v["id"] for v in voices]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    by_version = {version: {v["id"] for v in voices if v["version"] == version} for version in ("v1_0", "v0_19")}
    assert "af_bella" in by_version["v1_0"] and "v0_19/af_bella" in by_version["v0_19"]  # same name, both kept
    assert all("/" not in i for i in by_version["v1_0"]) and all(i.startswith("v0_19/") for i in by_version["v0_19"])
    # every id selects its version in a request that names no model
    service = server.serving.service
    for voice in voices:
        assert service.prepare(SpeechRequest(text="Hi.", voice=voice["id"])).build.version == voice["version"]
    # and speaks: v0.19's af_bella from v0.19's model, v1.0's af_bella from v1.0's; the default model's
    # names (what Open WebUI sends with every voice) leave the version to the id
    for n, (voice, version, model) in enumerate((("v0_19/af_bella", "v0_19", None), ("af_bella", "v1_0", None),
                                                 ("v0_19/af_bella(2)+v0_19/af_sky", "v0_19", "tts-1"))):
        body = {"input": "Hi there.", "voice": voice, "response_format": "pcm", "stream": False}
        response = http.post("/v1/audio/speech", json={**body, **({"model": model} if model else {})},
                             headers={"X-Request-ID": f"voice-id-{n}"})
        assert response.status_code == 200, response.text
        assert pcm_seconds(response.content) > 0.2
        record = server.serving.runner.record(f"voice-id-{n}")
        assert record is not None and record.version == version and record.status == "finished"
    per_version = http.get("/v1/audio/voices", params={"model": "kokoro-v0_19"}).json()["voices"]
    assert {v["id"] for v in per_version} == by_version["v0_19"]  # the same ids in every list
    clash = http.post("/v1/audio/speech", json={"input": "Hi.", "voice": "v0_19/af_bella", "model": "kokoro-v1_0"})
    assert clash.status_code == 400 and clash.json()["error"]["param"] == "voice"
    mixed = http.post("/v1/audio/speech", json={"input": "Hi.", "voice": "v0_19/af_bella+v1_0/af_sky"})
    assert mixed.status_code == 400 and "one version" in mixed.json()["error"]["message"]
    nowhere = http.post("/v1/audio/speech", json={"input": "Hi.", "voice": "v9/af_bella"})
    assert nowhere.status_code == 400 and nowhere.json()["error"]["code"] == "invalid_voice"


def test_legacy_voice_list_is_kokoro_fastapis_plain_names(http):
    legacy = http.get("/v1/audio/voices", params={"legacy": "true"}).json()
    assert set(legacy) == {"voices"} and all(isinstance(v, str) for v in legacy["voices"])
    assert legacy["voices"] == [v["id"] for v in http.get("/v1/audio/voices").json()["voices"]]
    only_v1 = http.get("/v1/audio/voices", params={"legacy": "true", "model": "kokoro-v1_0"}).json()["voices"]
    assert "af_heart" in only_v1 and not any("/" in v for v in only_v1)


# -- downloads: Kokoro-FastAPI's path, a name prefix in the log -------------------------------------

def test_download_path_is_relative_to_v1_and_the_log_shows_only_a_prefix(http, caplog):
    caplog.set_level(logging.INFO, logger="kokoro_server.access")
    response = http.post("/v1/audio/speech", json={"input": "Keep it.", "voice": "af_heart", "response_format": "wav",
                                                   "return_download_link": True})
    path = response.headers["x-download-path"]
    assert path.startswith("/download/") and path.endswith(".wav")
    kept = httpx.get(str(http.base_url) + "/v1" + path, timeout=120)  # what Kokoro-FastAPI's clients fetch: base URL + path
    assert kept.status_code == 200 and decode(kept.content)[0].size > 0.3 * SAMPLE_RATE
    name = path.rsplit("/", 1)[1]
    deadline = time.monotonic() + 10  # the access line is written after the last byte is sent
    while True:
        lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "kokoro_server.access"]
        fetched = [line for line in lines if line["path"].startswith("/v1/download/")]
        if fetched or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert fetched and fetched[-1]["status"] == 200, lines
    assert fetched[-1]["path"] == f"/v1/download/{name[:6]}..."
    assert not any(name in r.getMessage() for r in caplog.records)  # the name is the key: never logged


# -- MP3: raw MPEG frames, joinable ----------------------------------------------------------------

MPEG_BITRATES = {3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1 layer III
                 2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}  # MPEG-2 (and 2.5)
MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mpeg_frames(data: bytes) -> int:
    """Walk the MPEG audio (layer III) frames from the first byte to the last; each must follow the
    previous one at once (no tag, no gap, nothing cut)."""
    offset = frames = 0
    while offset < len(data):
        assert len(data) - offset >= 4, f"{len(data) - offset} stray bytes at the end"
        header = int.from_bytes(data[offset:offset + 4], "big")
        assert header >> 21 == 0x7FF, f"no MPEG frame sync at byte {offset}: {data[offset:offset + 4]!r}"
        version, layer = (header >> 19) & 3, (header >> 17) & 3
        assert layer == 1 and version in MPEG_RATES, f"not a layer III frame at byte {offset}"
        bitrate = MPEG_BITRATES[3 if version == 3 else 2][(header >> 12) & 15] * 1000
        rate = MPEG_RATES[version][(header >> 10) & 3]
        length = (144 if version == 3 else 72) * bitrate // rate + ((header >> 9) & 1)
        assert length > 4, f"bad frame header at byte {offset}"
        offset += length
        frames += 1
    assert offset == len(data), "the last frame is cut"
    return frames


def test_mp3_is_raw_mpeg_frames_and_two_responses_join_into_one_stream(client):
    first = client.audio.speech.create(model="tts-1", voice="af_heart", input="The first answer.",
                                       response_format="mp3").content
    second = client.audio.speech.create(model="tts-1", voice="am_adam", input="And the second one.",
                                        response_format="mp3", extra_body={"stream": False}).content
    for data in (first, second):
        assert data[:2] != b"ID" and data[0] == 0xFF and data[1] & 0xE0 == 0xE0  # a frame sync, no ID3 tag
        assert b"ID3" not in data and b"Xing" not in data and b"Info" not in data[:200]
    joined = first + second  # what LibreChat does with several answers
    assert mpeg_frames(joined) == mpeg_frames(first) + mpeg_frames(second)
    one, two, both = (decode(data, "mp3")[0] for data in (first, second, joined))
    assert both.size == one.size + two.size
    assert_speech_like(both, min_seconds=1.0, max_seconds=8.0)


def test_openapi_lists_the_media_type_of_every_format(anon, server):
    document = anon.get("/openapi.json").json()
    content = document["paths"]["/v1/audio/speech"]["post"]["responses"]["200"]["content"]
    assert set(content) == {fmt.content_type for fmt in FORMATS.values()} | {"text/event-stream"}
    assert {"audio/mpeg", "audio/aac", "audio/flac", "audio/wav", "audio/pcm"} <= set(content)
    assert not any("422" in op["responses"] for ops in document["paths"].values() for op in ops.values())


# -- CORS for a browser-direct client --------------------------------------------------------------

def test_cors_preflight_answers_the_configured_origin_only(anon, server):
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    allowed = anon.options("/v1/audio/speech", headers={"Origin": ORIGIN, **ask})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    other = anon.options("/v1/audio/speech", headers={"Origin": "http://evil.example", **ask})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    spoken = anon.post("/v1/audio/speech", headers={"Origin": ORIGIN, **AUTH}, timeout=120,
                        json={"input": "Hi.", "response_format": "pcm", "return_download_link": True})
    assert spoken.status_code == 200 and spoken.headers["access-control-allow-origin"] == ORIGIN
    exposed = spoken.headers["access-control-expose-headers"].lower()
    assert "x-download-path" in exposed and "x-request-id" in exposed
    voices = anon.get("/v1/audio/voices", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in voices.headers


# -- clients that leave while queued ----------------------------------------------------------------

def test_queued_requests_of_clients_that_left_are_never_synthesized(http, server):
    def ready() -> dict:
        return http.get("/ready").json()["queue"]

    abandoned = 10
    deadline = time.monotonic() + 120
    while (ready()["running"] or ready()["waiting"]) and time.monotonic() < deadline:
        time.sleep(0.05)  # what earlier tests left running has ended
    before = ready()["totals"]
    long_text = "\n\n".join(f"Paragraph number {i} is short, and it ends right here." for i in range(40))
    body = json.dumps({"input": "Hi there, anybody?", "voice": "af_heart", "response_format": "pcm"}).encode()
    with http.stream("POST", "/v1/audio/speech", json={"input": long_text, "response_format": "pcm"},
                     headers={"X-Request-ID": "holds-the-slot"}) as holder:
        audio = holder.iter_raw()  # kept: a dropped iterator is finalized at once, which closes the response
        assert holder.status_code == 200 and next(audio)  # it holds the only slot now
        sockets = []
        for i in range(abandoned):
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         + f"Authorization: Bearer {KEY}\r\nX-Request-ID: gone-{i}\r\n".encode()
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            sockets.append(sock)
        deadline = time.monotonic() + 180  # a loaded machine admits them slowly (each is prepared first)
        while ready()["waiting"] < abandoned and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready()["waiting"] == abandoned, ready()
        for sock in sockets:  # the clients give up while queued
            sock.close()
        while ready()["totals"]["abandoned"] - before["abandoned"] < abandoned and time.monotonic() < deadline:
            time.sleep(0.05)
        queue = ready()
        assert queue["totals"]["abandoned"] - before["abandoned"] == abandoned and queue["waiting"] == 0
        assert queue["running"] == 1  # dropped while the slot was still taken: none of them ran
    holding = server.serving.runner.record("holds-the-slot")
    while holding.status == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    after = ready()
    assert after["running"] == 0 and after["waiting"] == 0
    assert after["totals"]["chunks"] - before["chunks"] == holding.chunks  # only the holder's chunks
    for i in range(abandoned):
        record = server.serving.runner.record(f"gone-{i}")
        assert record is not None and record.status == "cancelled" and record.chunks == 0, record


# -- the Host check (DNS rebinding) ------------------------------------------------------------------

def test_host_header_is_checked_when_listening_on_loopback(anon, server):
    for host in ("localhost", f"localhost:{server.port}", "127.0.0.1", f"[::1]:{server.port}", PROXY_HOST):
        assert anon.get("/health", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", f"evil.example:{server.port}", "127.0.0.1.evil.example", "localhost.evil"):
        refused = anon.post("/v1/audio/speech", headers={"Host": host, **AUTH}, json={"input": "Hi."})
        assert refused.status_code == 400, host
        error = refused.json()["error"]
        assert set(error) == ERROR_KEYS and error["code"] == "invalid_host" and "KOKORO_ALLOWED_HOSTS" in error["message"]
    assert anon.get("/ready", headers={"Host": "evil.example"}).status_code == 400


def test_host_check_is_off_on_other_addresses_unless_hosts_are_listed(data_dir):
    assert HostCheckMiddleware.wanted("127.0.0.1", []) and HostCheckMiddleware.wanted("::1", [])
    assert not HostCheckMiddleware.wanted("0.0.0.0", []) and HostCheckMiddleware.wanted("0.0.0.0", ["tts.lan"])
    assert not HostCheckMiddleware.wanted("127.0.0.1", ["*"])
    open_app = TestClient(create_app(Settings(data_dir=data_dir, host="0.0.0.0")), base_url="http://evil.example")
    assert open_app.get("/nothing").json()["error"]["code"] == "not_found"  # routed: not refused by host
    listed = TestClient(create_app(Settings(data_dir=data_dir, host="0.0.0.0", allowed_hosts=["tts.lan"])),
                        base_url="http://evil.example")
    assert listed.get("/nothing").json()["error"]["code"] == "invalid_host"


# -- a bug: one traceback ----------------------------------------------------------------------------

class Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


def test_an_unhandled_error_is_a_500_with_one_traceback(anon, server):
    def broken() -> None:
        raise RuntimeError("a bug injected by the test")

    server.app.add_api_route("/test-fault", broken)
    seen = Tracebacks()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn"), logging.getLogger("uvicorn.error")]
    for logger in loggers:
        logger.addHandler(seen)
    try:
        response = anon.get("/test-fault")
        time.sleep(0.3)
    finally:
        for logger in loggers:
            logger.removeHandler(seen)
    assert response.status_code == 500 and response.json()["error"]["code"] == "internal_error"
    assert set(response.json()["error"]) == ERROR_KEYS and response.headers["x-request-id"]
    assert len({id(r) for r in seen.records}) == 1, [r.getMessage() for r in seen.records]
    assert "/test-fault" in seen.records[0].getMessage()


# -- 424 first: v0.19 with neither weights nor voices ------------------------------------------------

def test_missing_weights_are_reported_before_missing_voices(tmp_path: Path, assets: Path):
    root = fill_data_dir(tmp_path, assets, versions=("v1_0",))  # v1.0's voices only; no v0.19 files at all
    service = SpeechService(Settings(data_dir=root))
    for voice in (None, "af_bella"):
        with pytest.raises(FileProblemError) as caught:
            service.prepare(SpeechRequest(text="Hello.", model="kokoro-v0_19", voice=voice))
        assert caught.value.status_code == 424 and "kokoro-v0_19" in caught.value.message
    with TestClient(create_app(Settings(data_dir=root)), base_url="http://localhost") as app:
        answer = app.post("/v1/audio/speech", json={"model": "kokoro-v0_19", "input": "Hello.", "voice": "af_bella"})
    assert answer.status_code == 424 and answer.json()["error"]["code"] == "model_files_missing"
    assert "kokoro-server download -m v0_19" in answer.json()["error"]["message"]


# -- schemathesis over the OpenAPI document ----------------------------------------------------------

SCHEMATHESIS_EXAMPLES = 3
# Every check is on. Schema-valid data may still be refused for what a schema cannot say: a voice or
# model that is not installed (400/404), an input over the audio budget (413), word timestamps a model
# cannot give (422), weights missing (424); the routes document each of those statuses.
SCHEMATHESIS_CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "404", "409", "413", "422", "424", "429"]
"""


@pytest.mark.timeout(900)  # the run itself may take up to 10 minutes (its own limit below)
def test_schemathesis_finds_no_failed_check(data_dir: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path):
    """The README's command, bounded: coverage cases and a few generated ones per operation, every
    check on (status_code_conformance: each status a route answers is in its OpenAPI responses)."""
    from tests.support.server import writable_data_dir

    root = writable_data_dir(tmp_path_factory.mktemp("schemathesis-data"), data_dir)
    settings = Settings(data_dir=root, threads=2, concurrency=1, queue_size=4, api_keys=[KEY], max_input_chars=40,
                        preload=["v1_0"])
    (tmp_path / "schemathesis.toml").write_text(SCHEMATHESIS_CONFIG)
    running = ServerThread(settings).start()
    try:
        run = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "run", running.url + "/openapi.json", "--no-color",
             "--phases", "coverage,fuzzing", "--max-examples", str(SCHEMATHESIS_EXAMPLES), "--seed", "1",
             "--checks", "all", "--request-timeout", "120", "--workers", "1",
             "--generation-database", "none", "-H", f"Authorization: Bearer {KEY}"],
            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    finally:
        running.stop()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "passed" in run.stdout and "failure" not in run.stdout.split("SUMMARY")[-1].lower()
