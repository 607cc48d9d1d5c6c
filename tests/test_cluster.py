"""`kokoro-server cluster`: the real app as 2 replicas (1 thread each) behind Ray Serve on a local Ray
with 2 CPUs and no dashboard, driven over HTTP like any client; then SIGTERM stops all of it."""

from __future__ import annotations

import base64
import importlib.util
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.audio import assert_speech_like, decode
from tests.support.ci import missing
from tests.support.cluster import ClusterProcess, alive, descendants
from tests.support.server import writable_data_dir

# a local Ray cluster: up to 5 minutes to become ready on a loaded machine, then the tests
pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(900)]

REPLICA = "x-kokoro-replica"
LONG = " ".join(["The river kept running past the old mill, and the miller listened to it every night."] * 6)
SHORT = "Hello from the cluster."


@pytest.fixture(scope="module")
def cluster(data_dir: Path, model_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterProcess]:
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("ray.serve") is None:
        missing("Ray Serve is not installed (pip install 'kokoro-server[ray]')")
    root = writable_data_dir(tmp_path_factory.mktemp("cluster-data"), data_dir)
    running = ClusterProcess(root, ["--replicas", "2", "--threads-per-replica", "1", "--num-cpus", "2"])
    try:
        yield running.wait_ready(timeout=300)
    finally:
        if running.process.poll() is None:
            running.kill()


@pytest.fixture(scope="module")
def http(cluster: ClusterProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.url, timeout=120) as client:
        yield client


def speech(**fields: object) -> dict[str, object]:
    return {"model": "kokoro", "voice": "af_heart", "response_format": "pcm", **fields}


class Stream(threading.Thread):
    """One streamed request in its own thread: status, replica, time to the first and last byte;
    with ``hold`` set it keeps the response open (unread after the first bytes) until ``hold`` is set."""

    def __init__(self, url: str, body: dict[str, object], hold: threading.Event | None = None) -> None:
        super().__init__(daemon=True)
        self.url, self.body, self.hold = url, body, hold
        self.request_id = uuid.uuid4().hex
        self.status = 0
        self.replica = ""
        self.data = b""
        self.first_s = self.total_s = 0.0
        self.answered = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        try:
            with httpx.stream("POST", self.url + "/v1/audio/speech", json=self.body, timeout=300,
                              headers={"X-Request-ID": self.request_id}) as response:
                self.status, self.replica = response.status_code, response.headers.get(REPLICA, "")
                self.answered.set()
                for piece in response.iter_bytes():
                    if not self.data:
                        self.first_s = time.monotonic() - started
                    self.data += piece
                    if self.hold is not None:
                        self.hold.wait()
                        return  # the client goes away mid-stream
                self.total_s = time.monotonic() - started
        finally:
            self.answered.set()


def test_both_replicas_stream_audio_as_it_is_made(cluster: ClusterProcess):
    """Two requests at once go to the two replicas; each streams, its first audio well before its end."""
    streams = [Stream(cluster.url, speech(input=LONG[:300])) for _ in range(2)]
    for stream in streams:
        stream.start()
        stream.answered.wait(timeout=120)  # the second is routed while the first is running
    for stream in streams:
        stream.join(timeout=300)
        assert stream.status == 200
        audio, _ = decode(stream.data, "pcm")
        assert_speech_like(audio, min_seconds=10, max_seconds=40)
        assert stream.first_s < 0.5 * stream.total_s, (stream.first_s, stream.total_s)
    assert len({s.replica for s in streams}) == 2, f"both requests went to {streams[0].replica}"


def test_sse_events_carry_the_audio_and_usage(http: httpx.Client):
    events = []
    with http.stream("POST", "/v1/audio/speech", json=speech(input=SHORT, stream_format="sse")) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert events[-1]["type"] == "speech.audio.done" and events[-1]["usage"]["output_tokens"] > 0
    audio, _ = decode(b"".join(base64.b64decode(e["audio"]) for e in events[:-1]), "pcm")
    assert_speech_like(audio, min_seconds=0.8, max_seconds=5)


def test_full_cluster_says_429_and_disconnects_cancel_synthesis(cluster: ClusterProcess, http: httpx.Client):
    """Each replica admits 1 running + 1 waiting: with 4 long streams open, the 5th request gets 429
    in OpenAI's shape; the streams their clients drop are logged as cancelled."""
    hold = threading.Event()
    streams = [Stream(cluster.url, speech(input=LONG), hold) for _ in range(4)]
    try:
        for stream in streams:
            stream.start()
            time.sleep(0.3)
        deadline = time.monotonic() + 120
        while sum(s.status == 200 for s in streams) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sum(s.status == 200 for s in streams) >= 2, [s.status for s in streams]
        busy = http.post("/v1/audio/speech", json=speech(input=SHORT))
        assert busy.status_code == 429, (busy.status_code, busy.text, [s.status for s in streams])
        assert int(busy.headers["retry-after"]) >= 1
        error = busy.json()["error"]
        assert error["type"] == "rate_limit_error" and error["code"] == "queue_full", error
    finally:
        hold.set()
    for stream in streams:
        stream.join(timeout=120)
        line = cluster.wait_for_line('"event": "synthesis"', stream.request_id, timeout=300)
        assert stream.status in (200, 0), [s.status for s in streams]
        assert '"status": "cancelled"' in line, line
    assert "Traceback" not in cluster.output(), cluster.output()[-5000:]


def test_downloads_voices_and_logs_are_shared_by_the_replicas(cluster: ClusterProcess, http: httpx.Client):
    made = http.post("/v1/audio/speech", json=speech(input=SHORT, response_format="wav", stream=False,
                                                      return_download_link=True))
    assert made.status_code == 200
    path = made.headers["x-download-path"]
    saved = http.post("/v1/audio/voices/combine", json={"voices": "af_heart(1)+af_bella(1)", "name": "af_both"})
    assert saved.status_code == 200, saved.text
    served_by, spoken_by = set(), set()
    for _ in range(12):  # each request goes to either replica
        got = http.get(f"/v1{path}")
        assert got.status_code == 200 and got.content == made.content
        served_by.add(got.headers[REPLICA])
        spoken = http.post("/v1/audio/speech", json=speech(input="Hi.", voice="af_both", stream=False))
        assert spoken.status_code == 200, spoken.text
        spoken_by.add(spoken.headers[REPLICA])
        if len(served_by) == len(spoken_by) == 2:
            break
    assert len(served_by) == 2 and len(spoken_by) == 2
    audio, _ = decode(made.content, "wav")
    assert_speech_like(audio, min_seconds=0.8, max_seconds=5)
    access = [line for line in cluster.lines if '"event": "request"' in line]
    replica_prefixes = {line.split(")")[0] for line in access if line.startswith("(ServeReplica") or "ServeReplica" in line}
    assert len(replica_prefixes) >= 2, access[-5:]
    record, _ = json.JSONDecoder().raw_decode(access[-1][access[-1].index("{"):])
    assert record["method"] in ("GET", "POST") and record["status"] == 200


def test_sigterm_stops_every_process_the_command_started(cluster: ClusterProcess):
    started = descendants(cluster.process.pid)
    assert len(started) >= 3, "a local Ray runs below the command"
    assert cluster.terminate(timeout=120) == 0, cluster.output()[-3000:]
    deadline = time.monotonic() + 30
    while alive(started) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not alive(started), f"still running: {alive(started)}"
    assert "Traceback" not in cluster.output(), cluster.output()[-3000:]
