"""What the benchmark suite shares: texts, a data dir, server processes, streamed HTTP timing, the
bare-engine floor, RSS sampling, statistics and machine facts.

Scripts in ``bench/`` import it as ``harness`` (they run as ``python bench/NAME.py``). Only the
floor imports ``kokoro_server``; everything else talks HTTP or reads ``/proc`` through psutil.
"""

from __future__ import annotations

import io
import math
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kokoro_server.cpus import usable_cores

BENCH_DIR = Path(__file__).resolve().parent

SAMPLE_RATE = 24_000
PCM_BYTES_PER_SECOND = 2 * SAMPLE_RATE  # 16-bit mono
VOICE = "af_heart"

# -- texts -------------------------------------------------------------------------------------

PARAGRAPHS = [
    "Every town has a street that people walk along without thinking, and ours was Mill Lane. It ran "
    "from the station to the river, past a bakery, two pubs and a bookshop with a crooked sign. On "
    "market days the lane filled with stalls, and the smell of oranges and fresh bread drifted all the "
    "way to the water.",
    "The bookshop belonged to a tall, quiet man named Arthur, who had opened it after thirty years as a "
    "ship's engineer. He kept maps of every ocean behind the counter and would unroll them for anyone "
    "who asked. Children came in to trace the routes of old voyages with their fingers, while their "
    "parents browsed the shelves of secondhand novels.",
    "One winter the river froze for the first time in living memory. Nobody trusted the ice at first, "
    "so people gathered on the bank and argued about how thick it was. Arthur fetched a drill from his "
    "workshop, walked out a few careful steps and measured it. Ten centimetres, he announced, enough for "
    "skating but not for cars.",
    "By the afternoon half the town was on the river. Someone brought a gramophone, someone else brought "
    "a pot of soup, and the baker sold hot rolls from a basket. The light faded early, as it does in "
    "January, and lanterns appeared along the bank like a string of small moons.",
    "The council met the following week to discuss whether the ice fair should become a tradition. The "
    "mayor worried about accidents and insurance. The baker pointed out that he had sold more rolls in "
    "one afternoon than in the whole of December. In the end they agreed to hold it whenever the river "
    "froze, which might be never again.",
    "Spring came late that year. The ice broke up in long grey plates that drifted slowly towards the "
    "sea, and the ducks returned one by one. Arthur rolled up his maps, repainted the crooked sign and "
    "put a photograph of the frozen river in the window, between a guide to Norway and a book of "
    "sailing knots.",
    "Visitors sometimes asked about the photograph. He told them the story patiently, adding a detail "
    "each time, until the soup had become a feast and the gramophone a full brass band. Nobody minded. "
    "A town needs a few stories that grow a little with every telling, and this one was theirs.",
    "Years later, when the bookshop changed hands, the new owner found a box of letters in the cellar. "
    "They were from sailors Arthur had worked with, written from ports all over the world. Most were "
    "short and cheerful, full of weather reports and complaints about food. A few were long, careful "
    "and sad.",
    "She read them all during one rainy weekend and then did something Arthur would have liked. She "
    "pinned a map to the wall, marked every port with a small red flag, and invited the town to come and "
    "read the letters aloud. The evening ran far past closing time, and the tea ran out twice.",
    "The river has not frozen since. The lanterns are kept in a cupboard at the town hall, just in case, "
    "and every January someone walks down to the bank to look at the water. It is usually grey and "
    "moving quickly. Still, people say, you never know, and they keep the soup recipe safe.",
    "As for Mill Lane, it has hardly changed. The bakery still opens before dawn, the pubs still argue "
    "about football, and the bookshop sign is crooked again, because the new owner thinks it looks "
    "friendlier that way. On market days the oranges are still piled high, and if the wind is right you "
    "can smell the bread from the river, just as you always could.",
]
CHAPTER_NAMES = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                 "twelve"]


def sentences(paragraph: str) -> list[str]:
    return [s if s.endswith(".") else s + "." for s in paragraph.split(". ") if s]


def text_of(words: int) -> str:
    """The first ``words`` words of the story, ended with a full stop. Past its ~620 words the story
    is told again, each telling headed "Chapter two.", "Chapter three." and so on."""
    pool: list[str] = []
    chapter = 0
    while len(pool) < words:
        heading = [] if chapter == 0 else ["Chapter", CHAPTER_NAMES[chapter % len(CHAPTER_NAMES)] + "."]
        pool += heading + " ".join(PARAGRAPHS).split()
        chapter += 1
    text = " ".join(pool[:words])
    return text if text.endswith(".") else text.rstrip(",;:") + "."


def short_texts() -> list[str]:
    """The concurrency workload: the first two sentences of each paragraph (about 25-40 words)."""
    return [" ".join(sentences(p)[:2]) for p in PARAGRAPHS]


def soak_texts() -> list[str]:
    """The soak workload: the opening words of each sentence, up to its first comma (at most 8 words)."""
    texts = []
    for paragraph in PARAGRAPHS:
        for sentence in sentences(paragraph):
            words = sentence.split(",")[0].split()[:8]
            texts.append(" ".join(words).rstrip(".") + ".")
    return texts


# -- shared with the engine benchmarks: data dir, utterances, the bare session, machine facts --

import workload  # noqa: E402  (bench/ is on sys.path)
from workload import data_dir, machine, model_path, uptime  # noqa: E402,F401  (used as harness.*)


# -- statistics --------------------------------------------------------------------------------

def summarize(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max (so that noise shows), and how many values."""
    data = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not data:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
    return {"median": float(np.median(data)), "min": min(data), "max": max(data), "n": len(data)}


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


# -- processes and memory ----------------------------------------------------------------------

def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MiB."""
    import psutil

    try:
        process = psutil.Process(pid)
        total = process.memory_info().rss
        for child in process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total / 2**20
    except psutil.Error:
        return float("nan")


class RssSampler:
    """Samples a process's RSS every ``interval`` seconds in a thread while in use."""

    def __init__(self, pid: int | None, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float]] = []  # (seconds since start, MiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._start = 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> float:
        if self.pid is None:
            return float("nan")
        value = rss_mb(self.pid)
        self.samples.append((time.perf_counter() - self._start, value))
        return value

    def __enter__(self) -> RssSampler:
        self._start = time.perf_counter()
        if self.pid is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.sample()

    @property
    def peak(self) -> float:
        return max((mb for _, mb in self.samples), default=float("nan"))

    def at(self, seconds: float) -> float:
        """The first sample taken at or after ``seconds``."""
        return next((mb for t, mb in self.samples if t >= seconds), self.last)

    @property
    def last(self) -> float:
        return self.samples[-1][1] if self.samples else float("nan")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """An HTTP server in a subprocess, its output in ``log``."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    env: dict[str, str] = field(default_factory=dict)  # the settings it was started with

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def start_server(name: str, argv: Sequence[str], *, url: str, ready_path: str, env: Mapping[str, str],
                 log: Path, timeout: float = 600, cwd: Path | None = None) -> Server:
    """Start ``argv`` (in ``cwd``) and wait until ``GET url+ready_path`` answers 200 (the model is loaded)."""
    import httpx

    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(list(argv), env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=cwd)
    server = Server(name, process, url, log, dict(env))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(url + ready_path, timeout=5).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    server.stop()
    tail = log.read_text(errors="replace")[-3000:]
    raise SystemExit(f"{name} did not become ready (log {log}):\n{tail}")


def start_ours(root: Path, *, env: Mapping[str, str], log: Path, name: str = "ours") -> Server:
    """``kokoro-server serve`` on a free loopback port, the v1.0 model preloaded."""
    port = free_port()
    argv = [sys.executable, "-m", "kokoro_server.cli", "--data-dir", str(root), "serve", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning"]
    return start_server(name, argv, url=f"http://127.0.0.1:{port}", ready_path="/ready",
                        env={"KOKORO_PRELOAD": "v1_0", **env}, log=log)


# -- measuring over HTTP -----------------------------------------------------------------------

def speech_body(text: str, fmt: str) -> dict[str, Any]:
    """An OpenAI-style streamed speech request (both our server and fastkokoro take ``stream``)."""
    return {"model": "kokoro", "input": text, "voice": VOICE, "response_format": fmt, "stream": True}


def audio_seconds(fmt: str, data: bytes | int) -> float:
    """Length of the audio in a response: PCM by its size, anything else decoded with PyAV."""
    if fmt == "pcm":
        return (data if isinstance(data, int) else len(data)) / PCM_BYTES_PER_SECOND
    import av

    assert isinstance(data, bytes)
    with av.open(io.BytesIO(data), format=fmt) as container:
        return sum(frame.samples / frame.sample_rate for frame in container.decode(audio=0))


def stream_speech(url: str, text: str, fmt: str, *, pid: int | None = None) -> dict[str, float]:
    """POST a streamed request; time to the first audio byte and to the last, audio length, and the
    server's RSS (peak while it ran, at the first byte, at the end) when ``pid`` is given."""
    import httpx

    kept = bytearray()
    size = 0
    first = None
    with RssSampler(pid) as rss:
        start = time.perf_counter()
        with httpx.stream("POST", url + "/v1/audio/speech", json=speech_body(text, fmt), timeout=3600) as response:
            if response.status_code != 200:
                response.read()
                raise RuntimeError(f"{url}: HTTP {response.status_code}: {response.text[:300]}")
            for data in response.iter_raw():
                if not data:
                    continue
                if first is None:
                    first = time.perf_counter() - start
                size += len(data)
                if fmt != "pcm":
                    kept += data
        total = time.perf_counter() - start
    audio = audio_seconds(fmt, size if fmt == "pcm" else bytes(kept))
    return {"ttfa_s": first if first is not None else total, "total_s": total, "audio_s": audio,
            "rtf": total / audio if audio else float("nan"), "bytes": size,
            "rss_peak_mb": rss.peak, "rss_first_mb": rss.at(first or 0.0), "rss_last_mb": rss.last}


def run_clients(measure: Callable[[str], dict[str, float]], texts: Sequence[str], clients: int,
                *, pid: int | None = None) -> dict[str, Any]:
    """``clients`` threads take ``texts`` from one queue, each request as soon as its last one ended.
    Throughput is the audio of all requests over the wall time from the first start to the last end."""
    pending: queue.SimpleQueue[str] = queue.SimpleQueue()
    for text in texts:
        pending.put(text)

    def client() -> list[dict[str, float]]:
        done = []
        while True:
            try:
                text = pending.get_nowait()
            except queue.Empty:
                return done
            done.append(measure(text))

    with RssSampler(pid, interval=0.2) as rss:
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            results = [r for rs in pool.map(lambda _: client(), range(clients)) for r in rs]
        wall = time.perf_counter() - start
    audio = sum(r["audio_s"] for r in results)
    return {"clients": clients, "requests": len(results), "wall_s": wall, "audio_s": audio,
            "throughput": audio / wall, "latencies_s": [r["total_s"] for r in results],
            "ttfas_s": [r["ttfa_s"] for r in results], "rss_peak_mb": rss.peak}


# -- the floor: the bare ONNX Runtime session --------------------------------------------------

@dataclass(frozen=True)
class PreparedText:
    chunks: list[workload.Utterance]  # as our pipeline cuts the text
    first_sentence: workload.Utterance  # the whole first sentence, as a sentence-streaming server starts


class Floor:
    """A bare ``onnxruntime.InferenceSession`` on the model file (onnxruntime's defaults with
    ``threads`` intra-op threads, one inter-op thread, all graph optimizations), fed tokens
    prepared beforehand: what the model alone costs, with no text front end, HTTP or encoding."""

    def __init__(self, root: Path, model: Path, threads: int) -> None:
        self.threads = threads or usable_cores()
        self.session = workload.open_session(model, self.threads)
        self.root = root

    def prepare(self, text: str) -> PreparedText:
        from kokoro_server.text.chunk import split_sentences

        service, prepared = workload.prepare(self.root, VOICE, text)  # the text front end only
        first = next(iter(split_sentences(prepared.text))).text
        first_tokens = prepared.build.tokenize(service.phonemizer(prepared.build, prepared.lang)(first))
        return PreparedText(workload.pipeline_chunks(service, prepared), workload.utterance(prepared, first, first_tokens))

    def synthesize(self, utterance: workload.Utterance) -> np.ndarray:
        return workload.run_once(self.session, utterance)

    def run(self, prepared: PreparedText, *, first_sentence: bool = True) -> dict[str, float]:
        """All chunks in order: time to the first chunk's audio, total, audio length; and (timed
        apart) one call on the whole first sentence."""
        start = time.perf_counter()
        first, samples = None, 0
        for utterance in prepared.chunks:
            samples += self.synthesize(utterance).size
            first = first if first is not None else time.perf_counter() - start
        total = time.perf_counter() - start
        audio = samples / SAMPLE_RATE
        result = {"ttfa_s": first or 0.0, "total_s": total, "audio_s": audio, "rtf": total / audio,
                  "chunks": len(prepared.chunks), "first_chunk_tokens": len(prepared.chunks[0].tokens)}
        if first_sentence:
            start = time.perf_counter()
            self.synthesize(prepared.first_sentence)
            result["first_sentence_s"] = time.perf_counter() - start
            result["first_sentence_tokens"] = len(prepared.first_sentence.tokens)
        return result


