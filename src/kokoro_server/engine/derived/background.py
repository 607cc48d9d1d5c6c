"""Deriving in the background: a separate process at the lowest CPU priority, never a request's wait.

A server's first request runs on the model as installed while the derived file is made by
``python -m kokoro_server.engine.derived.derive`` (nice 19, one thread): a process, not a thread,
so that the graph surgery in Python never holds the server's GIL and the operating system gives
requests the CPU first. When it finishes, ``on_done`` is called (from a waiting thread) and the
backend switches to the new file between two calls. Closing terminates the process; its temp file
is deleted as it exits (a process killed harder leaves a temp file the next start sweeps).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("kokoro_server.engine")

STOP_WAIT_S = 10.0


@dataclass(frozen=True)
class DerivationState:
    """What the background derivation of one version is doing (for /ready and /v1/models)."""

    state: str  # "deriving" | "done" | "failed"
    what: str
    since: float  # time.time() it started (or ended)
    detail: str = ""

    def describe(self) -> str:
        if self.state == "deriving":
            return f"deriving {self.what} in the background for {time.time() - self.since:.0f} s"
        return f"{self.state}: {self.detail or self.what}"


class BackgroundDerivations:
    """At most one derivation process per model version at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processes: dict[str, subprocess.Popen[str]] = {}
        self._waiting: dict[str, list[Callable[[dict[str, object] | None, str | None], None]]] = {}
        self._states: dict[str, DerivationState] = {}
        self._closed = False

    def start(self, version: str, source: Path, what: str, args: list[str],
              on_done: Callable[[dict[str, object] | None, str | None], None]) -> bool:
        """Start deriving (unless one runs for ``version``: then ``on_done`` waits for that one);
        ``on_done(result, problem)`` follows (a model loaded again meanwhile is told too)."""
        with self._lock:
            if self._closed:
                return False
            if version in self._processes:
                self._waiting[version].append(on_done)
                return False
            command = [sys.executable, "-m", "kokoro_server.engine.derived.derive", str(source), *args]
            try:
                process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                           stdin=subprocess.DEVNULL)
            except OSError as exc:
                log.warning("%s: cannot start the background derivation (%s)", version, exc)
                return False
            self._processes[version] = process
            self._waiting[version] = [on_done]
            self._states[version] = DerivationState("deriving", what, time.time())
        threading.Thread(target=self._wait, args=(version, process), name=f"derive-{version}", daemon=True).start()
        return True

    def _wait(self, version: str, process: subprocess.Popen[str]) -> None:
        out, err = process.communicate()
        with self._lock:
            self._processes.pop(version, None)
            waiting = self._waiting.pop(version, [])
            closed = self._closed
        result, problem = None, None
        if process.returncode == 0:
            try:
                result = json.loads(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                problem = "it printed no result"
        else:
            lines = [line for line in err.strip().splitlines() if line.strip()]
            problem = f"exit status {process.returncode}" + (f": {lines[-1]}" if lines else "")
        state = DerivationState("failed", self._states[version].what, time.time(), problem) if problem else \
            DerivationState("done", self._states[version].what, time.time(), str(result.get("reason", "")))
        with self._lock:
            self._states[version] = state
        if closed:
            return
        for on_done in waiting:
            try:
                on_done(result, problem)
            except Exception:  # the server keeps running on the file it has
                log.exception("%s: switching to the derived model failed", version)

    def state(self, version: str) -> DerivationState | None:
        with self._lock:
            return self._states.get(version)

    def running(self, version: str) -> bool:
        with self._lock:
            return version in self._processes

    def close(self) -> None:
        """Stop every derivation (its temp file is deleted as it exits)."""
        with self._lock:
            self._closed = True
            processes = list(self._processes.values())
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
