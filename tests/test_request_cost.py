"""Every request's cost bounded by its size (issue 20), told as a careless client and an attacker.

A real server process (``kokoro-server serve``) whose own peak RSS and thread count are read from
/proc: an hour of whole-file WAV keeps memory flat (it is spooled, not held), 480 one-minute pauses
are refused before any audio with the figures, ``/dev/phonemize`` waits in the admission queue like
speech, error messages quote at most about 100 characters of the input, saved voice names and their
number are bounded, and threads come back to their idle count after a storm of disconnects. Then,
without a server, a property test over every input form: the first chunk is small and the audio a
request is promised stays within its budget, and long input is normalized a block at a time.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from kokoro_server.errors import InputTooLongError
from kokoro_server.files import SPOOL_FOLDER, SPOOL_PREFIX, SPOOL_SUFFIX, STALE_AFTER_S, create_spool_file
from kokoro_server.service import SpeechRequest, SpeechService
from kokoro_server.settings import Settings
from kokoro_server.text.blocks import BLOCK_CHARS
from kokoro_server.text.chunk import SOFT_OVER, ChunkPlan
from tests.support.server import writable_data_dir

MB = 1024 * 1024
HOUR_PAUSES = 59  # one-minute pauses: with a little speech, just under an hour of audio
RSS_BOUND = 100 * MB  # an hour of whole-file WAV (173 MB) within this of a short answer's peak
QUEUE = 4  # KOKORO_QUEUE_SIZE of the test server (KOKORO_CONCURRENCY is 2)
VOICES_ALLOWED = 1  # saved mixes the test server has room for (KOKORO_MAX_SAVED_VOICES above its voices)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """``kokoro-server serve`` in its own process: its memory and threads are its own."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"{data_dir.name}-server.log"  # read it when a test fails
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kokoro_server.cli", "--data-dir", str(data_dir), "serve", "--port",
                 str(self.port), "--log-level", "info"], env={**os.environ, **env}, stdout=log, stderr=log)

    def wait_ready(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the server exited during start-up"
            try:
                if httpx.get(self.url + "/ready", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise TimeoutError("the server did not become ready")

    def status(self, field: str) -> int:
        """A /proc/<pid>/status figure: VmHWM (peak RSS, kB), Threads."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def reset_peak(self) -> None:
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")  # VmHWM := current RSS

    def peak_bytes(self) -> int:
        return self.status("VmHWM") * 1024

    def idle(self, client: httpx.Client, timeout: float = 120) -> None:
        """Until no synthesis runs or waits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            queue = client.get("/ready").json()["queue"]
            if queue["running"] == 0 and queue["waiting"] == 0:
                return
            time.sleep(0.2)
        raise TimeoutError("the server stayed busy")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module")
def server(data_dir: Path, model_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = writable_data_dir(tmp_path_factory.mktemp("cost-data"), data_dir)
    voices = len(list((root / "voices" / "v1_0").iterdir()))
    running = ServerProcess(root, {"KOKORO_THREADS": "1", "KOKORO_CONCURRENCY": "2", "KOKORO_QUEUE_SIZE": str(QUEUE),
                                   "KOKORO_PRELOAD": "v1_0", "KOKORO_MAX_PAUSE_SECONDS": "3600",
                                   "KOKORO_MAX_SAVED_VOICES": str(voices + VOICES_ALLOWED)})
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=300) as client:
        yield client


def whole_wav(client: httpx.Client, text: str) -> tuple[int, bytes]:
    """A whole-file WAV answer read as it arrives (this process never holds it): its length and header."""
    with client.stream("POST", "/v1/audio/speech", json={"input": text, "response_format": "wav",
                                                         "stream": False}) as response:
        assert response.status_code == 200, response.read()
        size, head = 0, b""
        for block in response.iter_bytes():
            head = head or block[:44]
            size += len(block)
        assert int(response.headers["content-length"]) == size
    return size, head


def test_an_hour_of_whole_file_wav_keeps_the_server_memory_flat(server: ServerProcess, http: httpx.Client):
    whole_wav(http, "Warm up.")
    server.reset_peak()
    whole_wav(http, "A short answer.")
    short = server.peak_bytes()
    server.reset_peak()
    size, head = whole_wav(http, "Start. " + "[pause:60s] " * HOUR_PAUSES + "The end.")
    hour = server.peak_bytes()
    seconds = (size - 44) / 2 / 24000
    assert 3540 < seconds <= 3600
    riff, data = struct.unpack("<4xI32xI", head)
    assert riff == size - 8 and data == size - 44  # the spooled file's header was sealed
    assert hour - short < RSS_BOUND, f"peak RSS {hour / MB:.0f} MB for an hour, {short / MB:.0f} MB for a short answer"
    deadline = time.monotonic() + 10  # the server deletes the spool file once the last byte is sent
    while any((server.data_dir / SPOOL_FOLDER).glob(f"{SPOOL_PREFIX}*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any((server.data_dir / SPOOL_FOLDER).glob(f"{SPOOL_PREFIX}*")), "a spool file was left behind"


def test_480_one_minute_pauses_are_refused_before_any_audio(server: ServerProcess, http: httpx.Client):
    server.reset_peak()
    before = server.peak_bytes()
    text = "Wait for it. " + "[pause:60s] and " * 480
    answer = http.post("/v1/audio/speech", json={"input": text, "response_format": "wav", "stream": False})
    assert answer.status_code == 413, answer.text
    error = answer.json()["error"]
    assert error["code"] == "audio_too_long" and error["param"] == "input"
    assert "28800 s" in error["message"] and "KOKORO_MAX_PAUSE_SECONDS" in error["message"]
    assert server.peak_bytes() - before < 20 * MB
    for ssml in ("<speak>" + '<break time="60s"/> word ' * 61 + "</speak>",):
        refused = http.post("/v1/audio/captions", json={"input": ssml})
        assert refused.status_code == 413 and "3660 s" in refused.json()["error"]["message"]


def test_phonemize_waits_in_the_admission_queue_and_documents_its_statuses(server: ServerProcess,
                                                                         http: httpx.Client):
    operation = http.get("/openapi.json").json()["paths"]["/dev/phonemize"]["post"]
    assert {"400", "404", "413", "429"} <= set(operation["responses"])
    unknown = http.post("/dev/phonemize", json={"text": "Hello.", "model": "nope"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    text = "This sentence is long enough to keep a synthesis slot busy for a while. " * 30
    streams = []
    try:
        for _ in range(2 + QUEUE):  # every slot taken and the queue full
            streams.append(threading.Thread(target=hold_stream, args=(server.url, text), daemon=True))
            streams[-1].start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            queue = http.get("/ready").json()["queue"]
            if queue["running"] + queue["waiting"] >= 2 + QUEUE:
                break
            time.sleep(0.2)
        busy = http.post("/dev/phonemize", json={"text": "Hello there."})
        assert busy.status_code == 429 and busy.json()["error"]["code"] == "queue_full"
        assert int(busy.headers["retry-after"]) >= 1
    finally:
        for thread in streams:
            thread.join(timeout=120)
    server.idle(http)
    done = http.post("/dev/phonemize", json={"text": "Hello there."})
    assert done.status_code == 200 and done.json()["tokens"][0] == 0


def hold_stream(url: str, text: str, seconds: float = 3.0) -> None:
    """A streamed request that reads its first bytes and keeps its slot for a while, then leaves."""
    try:
        with httpx.Client(base_url=url, timeout=120) as client, client.stream(
                "POST", "/v1/audio/speech", json={"input": text, "response_format": "pcm"}) as response:
            for _ in response.iter_bytes():
                time.sleep(seconds)
                break
    except httpx.HTTPError:
        pass


HUGE = 50_000


@pytest.mark.parametrize("method,path,body,headers", [
    ("POST", "/v1/audio/speech", {"input": "[word](/" + "ə" * 900 + "☃/)"}, {}),
    ("POST", "/v1/audio/speech", {"input": '<speak><phoneme ph="' + "ə" * HUGE + '☃">word</phoneme></speak>'}, {}),
    ("POST", "/v1/audio/speech", {"input": "Hello.", "model": "m" * HUGE}, {}),
    ("POST", "/v1/audio/speech", {"input": "Hello.", "lang_code": "x" * HUGE}, {}),
    ("POST", "/v1/audio/speech", {"input": "Hello.", "voice": "v0_99/" + "a" * 900}, {}),
    ("POST", "/v1/audio/speech", {"input": "Hello.", "voice": "af_heart(" + "9" * 900 + "x)"}, {}),
    ("POST", "/v1/audio/speech", {"input": '<speak><break time="' + "9" * HUGE + '"/></speak>'}, {}),
    ("POST", "/v1/audio/speech", {"input": '<speak><prosody rate="' + "f" * HUGE + '">Hi.</prosody></speak>'}, {}),
    ("POST", "/v1/audio/speech", {"input": "ə" * HUGE + "☃", "input_format": "phonemes"}, {}),
    ("POST", "/dev/phonemize", {"text": "Hello.", "language": "q" * HUGE}, {}),
    ("POST", "/dev/phonemize", {"text": '<speak><phoneme ph="' + "ɐ" * HUGE + '☃">x</phoneme></speak>'}, {}),
    ("POST", "/v1/audio/voices/combine", {"voices": "af_heart", "name": "af_" + "n" * HUGE}, {}),
    ("GET", "/v1/download/" + "d" * 5000 + ".mp3", None, {}),
    ("POST", "/v1/audio/speech", None, {"content-type": "text/" + "c" * 5000}),
])
def test_error_messages_quote_at_most_about_100_characters_of_the_input(http: httpx.Client, method, path, body,
                                                                        headers):
    answer = http.request(method, path, json=body, headers=headers) if body is not None else \
        http.request(method, path, content=b"{}" if method == "POST" else None, headers=headers)
    assert 400 <= answer.status_code < 500, answer.text[:300]
    message = answer.json()["error"]["message"]
    assert len(message) < 700, message[:300]


def test_saved_voice_names_are_plain_and_their_number_is_capped(http: httpx.Client, server: ServerProcess):
    doubled = http.post("/v1/audio/voices/combine", json={"voices": "af_heart", "name": "af_heart.pt"})
    assert doubled.status_code == 400 and doubled.json()["error"]["param"] == "name"
    assert not (server.data_dir / "voices" / "v1_0" / "af_heart.pt.pt").exists()
    for bad in (".af_hidden", "af_" + "x" * 64, "af_mix/../up", "af mix"):
        assert http.post("/v1/audio/voices/combine", json={"voices": "af_heart", "name": bad}).status_code == 400
    first = http.post("/v1/audio/voices/combine", json={"voices": "af_bella+af_sky", "name": "af_cap-1"})
    assert first.status_code == 200 and first.headers["x-voice-saved"] == "af_cap-1"
    refused = http.post("/v1/audio/voices/combine", json={"voices": "af_bella+af_sky", "name": "af_cap2"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "too_many_voices"
    assert "KOKORO_MAX_SAVED_VOICES" in refused.json()["error"]["message"]
    assert not (server.data_dir / "voices" / "v1_0" / "af_cap2.pt").exists()
    unsaved = http.post("/v1/audio/voices/combine", json={"voices": "af_bella+af_sky"})
    assert unsaved.status_code == 200  # mixing without saving is not capped


def settle_threads(server: ServerProcess, client: httpx.Client) -> int:
    """The thread count at rest: no synthesis, idle pool workers past their 10 s, one request to prune them."""
    server.idle(client)
    time.sleep(11)
    client.post("/v1/audio/speech", json={"input": "Hi.", "response_format": "pcm"})
    time.sleep(1)
    return server.status("Threads")


def test_threads_come_back_to_their_idle_count_after_a_storm_of_disconnects(server: ServerProcess,
                                                                           http: httpx.Client):
    warm = [threading.Thread(target=hold_stream, args=(server.url, "Warm up both slots. " * 5, 0.5))
            for _ in range(2)]
    for thread in warm:
        thread.start()
    for thread in warm:
        thread.join(timeout=300)
    idle = settle_threads(server, http)
    text = "A request whose client leaves after the first bytes, in some format or other. " * 10

    def leave(i: int) -> None:
        whole = i % 4 == 0  # a whole-file answer: the client leaves while it is being made
        body = {"input": text, "response_format": ["mp3", "opus", "aac", "flac", "wav", "pcm"][i % 6],
                "stream": not whole}
        timeout = httpx.Timeout(120, read=2.0) if whole else 120
        try:
            with httpx.Client(base_url=server.url, timeout=timeout) as client, client.stream(
                    "POST", "/v1/audio/speech", json=body) as response:
                for _ in response.iter_bytes():
                    break
        except httpx.HTTPError:
            pass

    for wave in range(4):
        storm = [threading.Thread(target=leave, args=(wave * 12 + i,)) for i in range(12)]
        for thread in storm:
            thread.start()
        for thread in storm:
            thread.join(timeout=300)
    after = settle_threads(server, http)
    assert after <= idle + 1, f"{idle} threads at rest before 48 disconnects, {after} after"


# -- without a server: every input form --------------------------------------------------------------

PLAN = ChunkPlan()
FIRST_CHUNK_MAX = int(SOFT_OVER * PLAN.first_tokens)
BUDGET_S = 600.0
PHONEMES = "həlOwɜldˈæsktɪŋkɹnmpbfvðθʃʒʤʧaɪeɔʊ"
WORDS = ["forest", "the", "river", "and", "which", "quietly", "under", "stone", "1984", "$5", "Dr.", "km"]


@pytest.fixture(scope="module")
def budget_service(data_dir: Path, model_file: Path) -> Iterator[SpeechService]:
    service = SpeechService(Settings(data_dir=data_dir, threads=1, max_audio_seconds=BUDGET_S, max_pause_seconds=300))
    yield service
    service.close()


def phoneme_string(size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=PHONEMES, min_size=1, max_size=size)


INPUT_FORMS = st.one_of(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=400).map(" ".join).map(lambda t: ("plain", t, None)),
    st.integers(1, 40_000).map(lambda n: ("digits", "7" * n, None)),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=30_000).map(lambda t: ("one word", t, None)),
    st.tuples(st.lists(st.integers(1, 60), min_size=1, max_size=20), st.sampled_from(WORDS)).map(
        lambda p: ("pauses", " ".join(f"{p[1]} [pause:{s}s]" for s in p[0]), None)),
    st.tuples(st.lists(st.integers(1, 60), min_size=1, max_size=20), st.sampled_from(WORDS)).map(
        lambda p: ("ssml breaks", "<speak>" + " ".join(f'{p[1]} <break time="{s}s"/>' for s in p[0]) + "</speak>",
                   None)),
    phoneme_string(20_000).map(lambda p: ("phoneme markup", f"[word](/{p}/)", None)),
    phoneme_string(20_000).map(lambda p: ("ssml phoneme", f'<speak><phoneme ph="{p}">word</phoneme></speak>', None)),
    st.text(alphabet="abcdefghij0123456789", min_size=1, max_size=20_000).map(
        lambda t: ("say-as", f'<speak><say-as interpret-as="characters">{t}</say-as></speak>', None)),
    phoneme_string(30_000).map(lambda p: ("phonemes", p, "phonemes")),
)


@hypothesis_settings(max_examples=45, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                            HealthCheck.data_too_large])
@given(form=INPUT_FORMS, speed=st.sampled_from([0.5, 1.0, 2.0]))
def test_every_input_form_gets_a_small_first_chunk_and_a_promise_within_its_budget(budget_service, form, speed):
    kind, text, input_format = form
    try:
        prepared = budget_service.prepare(SpeechRequest(text=text, speed=speed, input_format=input_format))
    except InputTooLongError as refused:  # over the budget: refused up front, with the figures
        assert " s" in refused.message and ("KOKORO_MAX_AUDIO_SECONDS" in refused.message
                                            or "KOKORO_MAX_PAUSE_SECONDS" in refused.message), refused.message
        return
    assert prepared.estimate.seconds <= BUDGET_S, kind
    first = next(budget_service.chunks(prepared))
    assert len(first.tokens) <= FIRST_CHUNK_MAX, (kind, len(first.tokens))


def test_long_input_is_normalized_a_block_at_a_time(budget_service, monkeypatch):
    """The normalizer never runs over a whole long input before the first chunk."""
    from kokoro_server import service as service_module

    read: list[int] = []
    real = service_module.normalize
    monkeypatch.setattr(service_module, "normalize", lambda text, *args: read.append(len(text)) or real(text, *args))
    unlimited = SpeechService(Settings(data_dir=budget_service.settings.data_dir, max_audio_seconds=0))
    prepared = unlimited.prepare(SpeechRequest(text="1" * 100_000))
    chunk = next(unlimited.chunks(prepared))
    assert len(chunk.tokens) <= FIRST_CHUNK_MAX
    assert sum(read) <= 2 * BLOCK_CHARS, read  # prepare's speakable check and the chunker: one block each


def test_a_spool_file_left_by_a_killed_server_is_swept_and_a_live_one_kept(tmp_path: Path):
    folder = tmp_path / SPOOL_FOLDER
    fd, stale = create_spool_file(folder)
    os.close(fd)  # its process is gone: unlocked
    old = time.time() - STALE_AFTER_S - 5
    os.utime(stale, (old, old))
    live_fd, live = create_spool_file(folder)  # held (locked) by this process
    os.utime(live, (old, old))
    assert stale.name.startswith(SPOOL_PREFIX) and stale.name.endswith(SPOOL_SUFFIX)
    SpeechService(Settings(data_dir=tmp_path)).close()
    assert not stale.exists() and live.exists()
    os.close(live_fd)
