"""Books end to end, real model: an EPUB made here (three short chapters, a title, a cover) through the
HTTP API and the CLI, a server killed with SIGKILL mid-job and restarted, bad uploads over HTTP.

The M4B is read back with PyAV (chapter marks, titles, metadata, cover, levels) and each chapter's
first sentence is transcribed by Whisper. One in-process server (concurrency 1) runs the
uninterrupted job; the kill test runs the same book with the same settings in a ``kokoro-server
serve`` process, so the audio can be compared chunk by chunk.
"""

from __future__ import annotations


import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from kokoro_server.files import TempFile
from tests.support.audio import SAMPLE_RATE, decode
from tests.support.books import CHAPTERS, m4b_chapters, make_epub
from tests.support.server import ServerThread, writable_data_dir
from tests.support.whisper import word_errors, words

API_KEY = "books-key"
THREADS, CONCURRENCY = "2", "1"  # the same engine settings in every server here: the same audio
JOB_TIMEOUT_S = 300
pytestmark = pytest.mark.slow  # real synthesis of a short book, several times; Whisper; server processes


@pytest.fixture(scope="module")
def epub_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_epub(tmp_path_factory.mktemp("book") / "small.epub")


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from kokoro_server.settings import Settings

    root = writable_data_dir(tmp_path_factory.mktemp("books-api"), data_dir)
    settings = Settings(data_dir=root, threads=int(THREADS), concurrency=int(CONCURRENCY), preload=["v1_0"],
                        api_keys=[API_KEY], max_audio_seconds=1.5)  # a request's budget does not cap a book
    running = ServerThread(settings).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def http(server: ServerThread):
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=120) as client:
        yield client


def upload(http: httpx.Client, path: Path, **fields: str) -> httpx.Response:
    with path.open("rb") as handle:
        return http.post("/v1/audio/jobs", files={"file": (path.name, handle, "application/epub+zip")}, data=fields)


def follow(http: httpx.Client, job_id: str) -> list[dict]:
    """The job's server-sent events until it ends."""
    events = []
    with http.stream("GET", f"/v1/audio/jobs/{job_id}/events", timeout=JOB_TIMEOUT_S) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
    return events


@pytest.fixture(scope="module")
def finished(http: httpx.Client, server: ServerThread, epub_file: Path) -> dict:
    """The book made through the API without interruption; a live request is served while it runs."""
    assert httpx.post(server.url + "/v1/audio/jobs", files={"file": ("b.epub", b"x")}).status_code == 401
    created = upload(http, epub_file)
    assert created.status_code == 202, created.text
    job = created.json()
    assert created.headers["location"] == f"/v1/audio/jobs/{job['id']}"
    assert job["title"] == "The Small Book" and job["voice"] == "af_heart" and job["lang_code"] == "a"
    assert [(c["title"], c["status"] != "skipped") for c in job["chapters"]] == [
        (t, True) for t, _, _ in CHAPTERS] + [("Copyright", False)]
    live = http.post("/v1/audio/speech", json={"input": "Still here.", "response_format": "wav", "stream": False})
    assert live.status_code == 200 and len(decode(live.content)[0]) > SAMPLE_RATE // 2
    long = http.post("/v1/audio/speech", json={"input": CHAPTERS[0][1]})  # one of the book's sentences: over it
    assert long.status_code == 413 and "KOKORO_MAX_AUDIO_SECONDS" in long.json()["error"]["message"]
    events = follow(http, job["id"])
    assert events[-1]["type"] == "job.completed", events[-1]
    fractions = [e["job"]["progress"]["fraction"] for e in events if e["type"] == "job.progress"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= 3
    done = http.get(f"/v1/audio/jobs/{job['id']}").json()
    result = http.get(done["result_url"])
    assert result.status_code == 200 and result.headers["content-type"] == "audio/mp4"
    return {"job": done, "m4b": result.content, "jobs": Path(server.serving.settings.data_dir) / "jobs"}


def test_api_makes_a_chaptered_m4b_that_whisper_understands(finished: dict, http: httpx.Client, transcriber) -> None:
    job, data = finished["job"], finished["m4b"]
    marks, meta, duration, cover = m4b_chapters(data)
    assert [title for _, _, title in marks] == [t for t, _, _ in CHAPTERS]
    assert meta["title"] == "The Small Book" and meta["artist"] == "Ada Writer" and meta["genre"] == "Audiobook"
    assert cover
    assert marks[0][0] == 0 and all(abs(a[1] - b[0]) < 1e-3 for a, b in zip(marks, marks[1:]))
    assert abs(marks[-1][1] - duration) < 0.05  # the marks cover the whole book
    chapters = {c["number"]: c for c in job["chapters"]}
    audio, rate = decode(data)
    assert rate == SAMPLE_RATE and abs(len(audio) / rate - duration) < 0.1
    for n, (start, end, _) in enumerate(marks, 1):
        # a chapter is its speech and pauses plus 0.75 s of silence before and 2 s after
        assert abs((end - start) - (chapters[n]["audio_seconds"] + 2.75)) < 0.01
        clip = audio[int(start * rate): int(min(end, start + 7) * rate)]
        heading, first, _ = CHAPTERS[n - 1]
        heard = words(transcriber(clip))
        expected = words(f"{heading}. {first}")
        assert word_errors(expected, heard[: len(expected) + 2]) <= 2, (expected, heard)
    levels = job["levels"]
    assert abs(levels["loudness_lufs"] - (-20.0)) < 0.5 and levels["peak_dbfs"] <= -3.4
    import pyloudnorm

    measured = pyloudnorm.Meter(rate).integrated_loudness(audio.astype(np.float64))
    assert abs(measured - (-20.0)) < 1.5, measured  # what the M4B holds, measured on its decoded audio
    assert 20 * np.log10(np.abs(audio).max()) <= -3.0  # ACX: peaks at most -3 dBFS


def test_api_chapters_captions_ranges_and_cleanup(finished: dict, http: httpx.Client, server: ServerThread) -> None:
    job_id = finished["job"]["id"]
    whole = http.get(f"/v1/audio/jobs/{job_id}/result")
    part = http.get(f"/v1/audio/jobs/{job_id}/result", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    chapter = http.get(f"/v1/audio/jobs/{job_id}/chapters/2")
    assert chapter.status_code == 200 and chapter.headers["content-type"] == "audio/mpeg"
    clip, _ = decode(chapter.content)
    assert abs(len(clip) / SAMPLE_RATE - (finished["job"]["chapters"][1]["audio_seconds"] + 2.75)) < 0.2
    again = http.get(f"/v1/audio/jobs/{job_id}/chapters/2", headers={"Range": "bytes=0-9"})
    assert again.status_code == 206 and again.content == chapter.content[:10]
    store, spool = server.serving.jobs.store, Path(server.serving.settings.data_dir) / "spool"
    store.set_status(job_id, "cancelled")  # a job stopped after chapter 2: the chapter is made for each answer
    try:
        one_off = http.get(f"/v1/audio/jobs/{job_id}/chapters/2")
        assert one_off.status_code == 200 and len(decode(one_off.content)[0]) == len(clip)
        assert 'filename="02-' in one_off.headers["content-disposition"]
        deadline = time.monotonic() + 10
        while list(spool.iterdir()) and time.monotonic() < deadline:  # deleted once sent
            time.sleep(0.05)
        assert list(spool.iterdir()) == []
    finally:
        store.set_status(job_id, "completed")
    vtt = http.get(f"/v1/audio/jobs/{job_id}/chapters/3?format=vtt")
    assert vtt.text.startswith("WEBVTT") and "They were glad to be home" in " ".join(vtt.text.split())
    book_srt = " ".join(http.get(f"/v1/audio/jobs/{job_id}/result?format=srt").text.split())
    assert "The boat left" in book_srt and "Supper was bread" in book_srt
    assert http.get(f"/v1/audio/jobs/{job_id}/chapters/4").status_code == 409  # the copyright page is skipped
    assert http.get(f"/v1/audio/jobs/{job_id}/chapters/9").status_code == 404
    assert http.get(f"/v1/audio/jobs/{job_id}/cover").content[:3] == b"\xff\xd8\xff"
    listed = http.get("/v1/audio/jobs").json()
    assert job_id in [j["id"] for j in listed["data"]] and listed["disk"]["used_bytes"] > 0
    assert http.post(f"/v1/audio/jobs/{job_id}/cancel").status_code == 409  # already completed


def test_a_server_killed_mid_job_resumes_and_makes_the_same_audio(finished: dict, data_dir: Path, epub_file: Path,
                                                                  tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    root = writable_data_dir(tmp_path / "data", data_dir)
    server = SubprocessServer(root)
    try:
        with server.running():
            job_id = upload(server.client(), epub_file).json()["id"]
            done_before = server.wait_for_chunks(job_id, at_least=3)
            server.kill()
        assert done_before < 9
        with server.running():
            deadline = time.monotonic() + JOB_TIMEOUT_S
            while (job := server.client().get(f"/v1/audio/jobs/{job_id}").json())["status"] != "completed":
                assert job["status"] in ("queued", "running") and time.monotonic() < deadline, job
                time.sleep(0.5)
            m4b = server.client().get(f"/v1/audio/jobs/{job_id}/result").content
    finally:
        server.stop()
    with sqlite3.connect(root / "jobs" / "jobs.sqlite3") as db:
        attempts = db.execute("SELECT chapter, idx, COUNT(*) FROM attempts WHERE job_id = ? GROUP BY chapter, idx",
                              (job_id,)).fetchall()
    assert len(attempts) == 9
    assert sum(count - 1 for _, _, count in attempts) <= 1, attempts  # only the chunk running at the kill, again
    reference = finished["jobs"] / finished["job"]["id"] / "chunks"
    for chapter, index, _ in attempts:
        mine = root / "jobs" / job_id / "chunks" / str(chapter) / f"{index}.pcm"
        assert mine.read_bytes() == (reference / str(chapter) / f"{index}.pcm").read_bytes(), (chapter, index)
    assert np.array_equal(decode(m4b)[0], decode(finished["m4b"])[0])


def test_cli_book_resumes_after_ctrl_c(data_dir: Path, epub_file: Path, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    root = writable_data_dir(tmp_path / "data", data_dir)
    out, vtt = tmp_path / "book.m4b", tmp_path / "book.vtt"
    command = [sys.executable, "-m", "kokoro_server.cli", "--data-dir", str(root), "book", str(epub_file), "-o",
               str(out), "--captions", str(vtt), "--keep"]
    env = {**os.environ, "KOKORO_THREADS": THREADS, "KOKORO_CONCURRENCY": CONCURRENCY}
    listed = subprocess.run([*command[:7], "--list", "--chapters", "2-3"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert listed.returncode == 0, listed.stderr
    chosen = [line.split(".")[0].split()[-1] for line in listed.stdout.splitlines() if line.startswith(" *")]
    assert chosen == ["2", "3"] and "4. Copyright (back" in listed.stdout, listed.stdout
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_chunks(root / "jobs" / "jobs.sqlite3", None, at_least=1, alive=first)
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 130 and "interrupted" in err and "resume" in err, err
    assert not out.exists()
    left = TempFile(out)  # the copy to -o that a run killed while writing it left (outside the data dir)
    left.file.close()
    os.utime(left.path, (time.time() - 3600,) * 2)
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=JOB_TIMEOUT_S)
    assert second.returncode == 0, second.stderr
    assert "resuming" in second.stderr and "wrote" in second.stderr
    assert not left.path.exists() and [p.name for p in tmp_path.glob(".book.m4b.*")] == []
    marks, meta, duration, cover = m4b_chapters(out.read_bytes())
    assert [t for _, _, t in marks] == [t for t, _, _ in CHAPTERS] and cover and meta["title"] == "The Small Book"
    assert marks[0][0] == 0 and abs(marks[-1][1] - duration) < 0.05
    assert all(abs(a[1] - b[0]) < 1e-3 for a, b in zip(marks, marks[1:]))  # the chapters' durations add up
    assert vtt.read_text().startswith("WEBVTT") and "Supper was bread" in " ".join(vtt.read_text().split())
    with sqlite3.connect(root / "jobs" / "jobs.sqlite3") as db:
        counts = [c for (c,) in db.execute("SELECT COUNT(*) FROM attempts GROUP BY chapter, idx")]
    assert len(counts) == 9 and sum(c - 1 for c in counts) <= 1, counts
    bad = subprocess.run([*command[:6], str(tmp_path / "missing.epub"), "-o", str(out)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no such file" in bad.stderr


@pytest.fixture(scope="module")
def strict_server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Small limits, and no job runs (nothing here needs synthesis)."""
    from kokoro_server.settings import Settings

    root = writable_data_dir(tmp_path_factory.mktemp("books-strict"), data_dir)
    settings = Settings(data_dir=root, threads=1, concurrency=1, preload=["v1_0"], job_concurrency=0,
                        job_max_upload_bytes=256 * 1024, job_max_unpacked_bytes=1024 * 1024,
                        job_max_disk_bytes=100 * 2**20)
    running = ServerThread(settings).start()
    yield running
    running.stop()


def test_bad_uploads_are_4xx_with_a_reason(strict_server: ServerThread, epub_file: Path, tmp_path: Path) -> None:
    import zipfile

    url = strict_server.url + "/v1/audio/jobs"

    def post(name: str, data: bytes, **fields: str) -> httpx.Response:
        return httpx.post(url, files={"file": (name, data)}, data=fields, timeout=60)

    good = epub_file.read_bytes()
    assert post("x.epub", b"PK\x03\x04 not really a zip").json()["error"]["code"] == "invalid_book"
    bomb = tmp_path / "bomb.epub"
    bomb.write_bytes(good)
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("EPUB/zeros.xhtml", b"\0" * (8 * 1024 * 1024))
    answer = post("bomb.epub", bomb.read_bytes())
    assert answer.status_code == 400 and "unpacks to" in answer.json()["error"]["message"]
    answer = post("big.txt", b"word " * 60_000)  # 300 kB streamed past the 256 KiB cap
    assert answer.status_code == 413 and "KOKORO_JOB_MAX_UPLOAD_BYTES" in answer.json()["error"]["message"]
    with socket.create_connection(("127.0.0.1", strict_server.port)) as raw:  # 500 MB announced: refused unread
        raw.sendall(b"POST /v1/audio/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                    b"boundary=b\r\nContent-Length: 524288000\r\n\r\n")
        assert raw.recv(200).startswith(b"HTTP/1.1 413")
    assert post("empty.html", b"<html><body><script>speak('no')</script></body></html>").status_code == 400
    assert post("x.epub", good, chapters="7").json()["error"]["param"] == "chapters"
    assert post("x.epub", good, voice="xx_nobody").status_code == 400
    assert post("x.epub", good, format="mp4").status_code == 400
    assert httpx.post(url, json={"speed": 1}, timeout=30).status_code == 400
    assert httpx.post(url, content=b"text", headers={"content-type": "text/plain"}, timeout=30).status_code == 400
    preview = httpx.post(url + "/preview", files={"file": ("page.html", b"<html><body><h1>Hi</h1><p>Read me."
                                                  b"<script>alert('not me')</script></p></body></html>")}, timeout=60)
    assert preview.status_code == 200 and "alert" not in json.dumps(preview.json())
    pauses = "Hi. [pause:60s] " * 30  # 30 minutes of silence: 115 MB of chunk audio, over the 100 MB disk limit
    preview = httpx.post(url + "/preview", json={"input": pauses[:160], "markup": True}, timeout=60).json()
    assert 600 < preview["estimated_audio_seconds"] < 620, preview  # the pauses count exactly
    refused = httpx.post(url, json={"input": pauses, "markup": True}, timeout=60)
    assert refused.status_code == 413 and refused.json()["error"]["code"] == "insufficient_storage", refused.text
    literal = httpx.post(url, json={"input": pauses}, timeout=60)  # markup off: read as it is written, short
    assert literal.status_code == 202 and httpx.delete(f"{url}/{literal.json()['id']}", timeout=30).status_code == 200
    queued = httpx.post(url, json={"input": "Chapter 1\n\nHello there.\n\nChapter 2\n\nGoodbye now."}, timeout=60)
    assert queued.status_code == 202 and [c["title"] for c in queued.json()["chapters"]] == ["Chapter 1", "Chapter 2"]
    job_id = queued.json()["id"]
    assert httpx.post(f"{url}/{job_id}/cancel", timeout=30).json()["status"] == "cancelled"
    assert httpx.get(f"{url}/{job_id}/result", timeout=30).status_code == 409
    assert httpx.delete(f"{url}/{job_id}", timeout=30).json()["deleted"] is True
    assert httpx.get(f"{url}/{job_id}", timeout=30).status_code == 404
    spool = Path(strict_server.serving.settings.data_dir) / "spool"
    assert spool.is_dir() and list(spool.iterdir()) == []  # every upload's spool file is gone


# -- a `kokoro-server serve` process ----------------------------------------------------------------

def wait_for_chunks(database: Path, job_id: str | None, *, at_least: int, alive: subprocess.Popen,
                    timeout: float = JOB_TIMEOUT_S) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert alive.poll() is None, "the process ended early"
        if database.exists():
            try:
                with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
                    sql = "SELECT COUNT(*) FROM chunks WHERE done = 1" + (" AND job_id = ?" if job_id else "")
                    done = db.execute(sql, (job_id,) if job_id else ()).fetchone()[0]
            except sqlite3.OperationalError:  # the tables are being made
                done = 0
            if done >= at_least:
                return done
        time.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} chunks were done in {timeout} s")


class SubprocessServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.process: subprocess.Popen | None = None
        self.port = 0

    def running(self):
        from contextlib import contextmanager

        @contextmanager
        def started():
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = probe.getsockname()[1]
            env = {**os.environ, "KOKORO_THREADS": THREADS, "KOKORO_CONCURRENCY": CONCURRENCY,
                   "KOKORO_PRELOAD": "v1_0"}
            self.process = subprocess.Popen([sys.executable, "-m", "kokoro_server.cli", "--data-dir", str(self.root),
                                             "serve", "--port", str(self.port), "--log-level", "warning"], env=env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert self.process.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
            try:
                yield
            finally:
                self.stop()

        return started()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120)

    def wait_for_chunks(self, job_id: str, *, at_least: int) -> int:
        assert self.process is not None
        return wait_for_chunks(self.root / "jobs" / "jobs.sqlite3", job_id, at_least=at_least, alive=self.process)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


