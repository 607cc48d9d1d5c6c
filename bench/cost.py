"""Cost of the inputs of issue 20 (first audio, peak memory, refusal), on a real server process.

For each source tree given (e.g. this checkout and a copy of an older commit) a ``kokoro-server serve``
is started from it on this venv; each input is sent in turn and measured on the server process:

- ``first byte s``: from sending the request to the first byte of the answer (audio, or the error);
- ``x prose``: that time over a short prose request's, measured just before on the same server (robust
  to the load of a shared machine);
- ``peak MB`` / ``+MB``: the server's peak RSS during the input (VmHWM, reset before each input by
  writing 5 to /proc/<pid>/clear_refs) and its growth over the RSS before it;
- ``status`` and, for whole-file answers, the bytes received; streamed answers are read for at most
  ``--read-s`` seconds and then dropped (the client leaves).

A server whose RSS passes ``--max-rss-mb`` is killed (the row says so) and the next input gets a new one.

    python bench/cost.py --tree . --tree /tmp/kokoro-before          # before/after in one run
    python bench/cost.py --tree . --env KOKORO_MAX_AUDIO_SECONDS=0    # this tree without the budget
    python bench/cost.py --only digits,phonemes --tree .

Prints a Markdown table (one row per tree and input).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import harness
import httpx
from workload import data_dir

MB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    body: dict[str, object]
    whole: bool = False  # read all of the answer (else: the first bytes, then leave)


def cases() -> list[Case]:
    ssml_phonemes = "həlˈO" * 2000  # 10,000 symbols
    return [
        Case("prose", "/v1/audio/speech", {"input": "The first chunk of a short sentence, read aloud.",
                                          "response_format": "pcm"}),
        Case("480 pauses whole wav", "/v1/audio/speech",
             {"input": "Wait. " + "[pause:60s] and " * 480, "response_format": "wav", "stream": False}, whole=True),
        Case("480 pauses streamed pcm", "/v1/audio/speech",
             {"input": "Wait. " + "[pause:60s] and " * 480, "response_format": "pcm"}),
        Case("1 h whole wav (59 pauses)", "/v1/audio/speech",  # needs KOKORO_MAX_PAUSE_SECONDS=3600
             {"input": "Start. " + "[pause:60s] " * 59 + "The end.", "response_format": "wav", "stream": False},
             whole=True),
        Case("100,000 x '1'", "/v1/audio/speech", {"input": "1" * 100_000, "response_format": "pcm"}),
        Case("one 100,000-letter word", "/v1/audio/speech", {"input": "abcdefghij" * 10_000,
                                                             "response_format": "pcm"}),
        Case("generate_from_phonemes 100,000", "/dev/generate_from_phonemes",
             {"phonemes": "həlO" * 25_000, "voice": "af_heart", "response_format": "pcm"}),
        Case("SSML <phoneme> 10,000", "/v1/audio/speech",
             {"input": f'<speak><phoneme ph="{ssml_phonemes}">word</phoneme></speak>', "response_format": "pcm"}),
        Case("say-as characters 40,000", "/v1/audio/speech",
             {"input": '<speak><say-as interpret-as="characters">' + "abcd" * 10_000 + "</say-as></speak>",
              "response_format": "pcm"}),
        Case("phonemize 100,000 x 'あ' (j)", "/dev/phonemize", {"text": "あ" * 100_000, "language": "j"}, whole=True),
    ]


class Server:
    """``kokoro-server serve`` from ``tree`` (bench/harness.py starts it and waits for /ready), warmed up."""

    def __init__(self, tree: Path, root: Path, env: dict[str, str]) -> None:
        port = harness.free_port()
        argv = [sys.executable, "-m", "kokoro_server.cli", "--data-dir", str(root), "serve", "--port", str(port),
                "--log-level", "error"]
        self.server = harness.start_server(
            tree.name, argv, url=f"http://127.0.0.1:{port}", ready_path="/ready", log=root / f"{tree.name}.log",
            env={"PYTHONPATH": str(tree / "src"), "KOKORO_PRELOAD": "v1_0", "KOKORO_FAST_MODEL": "false", "KOKORO_DERIVE": "off",
                 "KOKORO_CONCURRENCY": "1", **env})
        self.url = self.server.url
        self.process = self.server.process
        httpx.post(self.url + "/v1/audio/speech", json={"input": "Warm up.", "response_format": "pcm"}, timeout=300)

    def proc(self, field_name: str) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
        return 0

    def reset_peak(self) -> None:
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@dataclass
class Row:
    tree: str
    case: str
    status: str = ""
    first_byte: float | None = None
    ratio: float | None = None
    peak: int = 0
    growth: int = 0
    received: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def wait_idle(server: Server, timeout: float = 300) -> None:
    """Until the server synthesizes nothing (a client that left may leave a chunk in progress)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queue = httpx.get(server.url + "/ready", timeout=30).json().get("queue", {})
        if not queue.get("running") and not queue.get("waiting"):
            return
        time.sleep(0.2)


def measure(server: Server, case: Case, read_s: float, max_rss: int, timeout: float) -> Row:
    wait_idle(server)
    row = Row("", case.name)
    server.reset_peak()
    before = server.proc("VmRSS")
    started = time.perf_counter()
    done = threading.Event()

    def send() -> None:
        try:
            if case.whole:
                with httpx.Client(timeout=timeout) as client, client.stream("POST", server.url + case.path,
                                                                             json=case.body) as answer:
                    row.status = str(answer.status_code)
                    for block in answer.iter_bytes():
                        if row.first_byte is None:
                            row.first_byte = time.perf_counter() - started
                        row.received += len(block)
            else:
                first_bytes(server.url, case, row, started, read_s, timeout)
        except (httpx.HTTPError, OSError) as exc:
            row.status = row.status or type(exc).__name__
        finally:
            done.set()

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    seen = before
    while not done.wait(0.1):
        seen = max(seen, server.proc("VmRSS"))
        if seen > max_rss:
            row.notes.append(f"killed at {max_rss // MB} MB RSS after {time.perf_counter() - started:.0f} s")
            server.stop()
            break
        if time.perf_counter() - started > timeout:
            row.notes.append(f"stopped after {timeout:.0f} s")
            server.stop()
            break
    thread.join(5)
    row.seconds = time.perf_counter() - started
    if server.alive():
        time.sleep(0.5)  # what the server still does after the client left counts too
        row.peak = server.proc("VmHWM")
    else:
        row.peak = seen  # the most RSS seen (sampled every 0.1 s) before it was stopped
    row.growth = row.peak - before
    return row


def first_bytes(url: str, case: Case, row: Row, started: float, read_s: float, timeout: float) -> None:
    """A streamed answer over a plain socket: the time to its first byte, then ``read_s`` seconds of
    it (however slowly it comes), then the client leaves."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(case.body).encode()
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(f"POST {case.path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                           f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        block = connection.recv(65536)
        row.first_byte = time.perf_counter() - started
        row.status = block[9:12].decode(errors="replace")
        row.received = len(block)
        until = time.perf_counter() + read_s
        while (left := until - time.perf_counter()) > 0:
            connection.settimeout(left)
            try:
                block = connection.recv(1 << 20)
            except TimeoutError:
                break
            if not block:
                break
            row.received += len(block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", action="append", type=Path, required=True, help="a checkout to serve from")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the servers")
    parser.add_argument("--only", help="comma-separated case names (prefixes)")
    parser.add_argument("--read-s", type=float, default=2.0, help="seconds a streamed answer is read")
    parser.add_argument("--max-rss-mb", type=int, default=4096)
    parser.add_argument("--timeout-s", type=float, default=180.0)
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    chosen = [c for c in cases() if not args.only or any(c.name.startswith(p) for p in args.only.split(","))]
    prose = cases()[0]
    rows: list[Row] = []
    root = data_dir(None)
    for tree in args.tree:
        server = Server(tree.resolve(), root, env)
        for case in chosen:
            if not server.alive():
                server = Server(tree.resolve(), root, env)
            reference = measure(server, prose, args.read_s, args.max_rss_mb * MB, args.timeout_s)
            row = reference if case is prose else measure(server, case, args.read_s, args.max_rss_mb * MB,
                                                          args.timeout_s)
            row.tree = str(tree)
            if row.first_byte is not None and reference.first_byte:
                row.ratio = row.first_byte / reference.first_byte
            rows.append(row)
            print(f"{row.tree} | {row.case}: {row.status} first byte {row.first_byte} peak {row.peak // MB} MB "
                  f"{'; '.join(row.notes)}", file=sys.stderr, flush=True)
        server.stop()
    print(f"\nenv: {env or 'defaults'}; CPU: {cpu_name()}\n")
    print("| tree | input | status | first byte s | x prose | peak MB | +MB | received MB | notes |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        first = f"{r.first_byte:.2f}" if r.first_byte is not None else "-"
        ratio = f"{r.ratio:.1f}" if r.ratio is not None else "-"
        print(f"| {r.tree} | {r.case} | {r.status} | {first} | {ratio} | {r.peak // MB} | {r.growth // MB} | "
              f"{r.received / MB:.1f} | {'; '.join(r.notes)} |")


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip() + f", {os.cpu_count()} CPUs"
    return "?"


if __name__ == "__main__":
    main()
