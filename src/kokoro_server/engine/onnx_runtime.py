"""ONNX Runtime backend (CPU by default). ``onnxruntime`` is imported only when this backend loads.

The backend holds a small pool of sessions; each runs one synthesis at a time, so up to
``sessions`` calls run in parallel and the rest wait for a free session. On a CPU, two 1-thread
sessions serving two requests at once deliver more audio per second than one 2-thread session
taking them in turn, while a lone request is fastest on one session with every core (see
``bench/concurrency.py``). So with an automatic layout (:func:`session_layout`) the backend also
holds a *wide* session with every core: a call made while no other stream is live runs on it,
calls made while several streams are live run on the narrow pool. Sessions start from the
optimized graph saved by :mod:`kokoro_server.engine.graph_cache`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from kokoro_server.cpus import usable_cores
from kokoro_server.engine.base import FRAME_SAMPLES, SynthesisOutput
from kokoro_server.engine.durations_model import OUTPUT as DURATIONS_OUTPUT
from kokoro_server.engine.graph_cache import Fingerprint, GraphCache, cpu_signature
from kokoro_server.engine.pool import SessionPool
from kokoro_server.errors import BackendUnavailableError, FileProblemError

log = logging.getLogger("kokoro_server.engine")

OPTIMIZATION_LEVEL = "all"
ORT_LOG_ERRORS = 3  # onnxruntime's severities: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal


def import_onnxruntime() -> Any:
    """``onnxruntime``, logging errors only, with its usage telemetry off (1.32 on Linux records events
    in ~/.cache and uploads them to Microsoft; a self-hosted server sends nothing).
    ``ORT_DISABLE_TELEMETRY=0`` in the environment keeps it on."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - it is a core dependency
        raise BackendUnavailableError("onnxruntime is not installed (pip install onnxruntime)") from exc
    if os.environ["ORT_DISABLE_TELEMETRY"] == "1":
        ort.disable_telemetry_events()  # in case it was imported before this function ran
    # Errors only: its warnings are about its own choices (e.g. "Serializing optimized model ..." when
    # the optimized graph is saved), not something a user of kokoro-server can act on.
    ort.set_default_logger_severity(ORT_LOG_ERRORS)
    return ort


@dataclass(frozen=True)
class SessionLayout:
    sessions: int  # narrow sessions, one synthesis each at a time
    threads: int  # intra-op threads of each narrow session
    wide_threads: int = 0  # threads of the wide session for a lone stream (0: none)


def session_layout(sessions: int, threads: int, concurrency: int, cores: int | None = None) -> SessionLayout:
    """The session layout for the settings, 0 meaning auto.

    Auto sessions: one per synthesis the server admits at once (``concurrency``), at most one per
    core; auto threads: the cores shared out among the sessions. When both are auto and there is
    more than one narrow session, a wide session with every core serves a lone stream.
    """
    cores = cores or usable_cores()
    auto = not sessions and not threads
    sessions = sessions or max(1, min(concurrency, cores))
    threads = threads or max(1, cores // sessions)
    wide = cores if auto and sessions > 1 and threads < cores else 0
    return SessionLayout(sessions, threads, wide)


class OnnxBackend:
    name = "onnx"

    def __init__(self, model_path: Path, *, sessions: int = 1, threads: int = 0, wide_threads: int = 0,
                 save_graph: bool = True, fix_hint: str = "", durations_problem: str | None = None) -> None:
        ort = import_onnxruntime()
        self._ort = ort
        self._model_path = model_path
        self._fix_hint = fix_hint
        self.threads = threads or usable_cores()
        has_wide = wide_threads > self.threads
        self._shared_cores = sessions > 1 or has_wide  # several sessions may run at once
        cache = GraphCache(model_path, Fingerprint(ort.__version__, OPTIMIZATION_LEVEL, cpu_signature())) \
            if save_graph else None
        first, graph = self._first_session(cache, threads=wide_threads if has_wide else self.threads)
        inputs = {i.name: i for i in first.get_inputs()}
        self._token_input = "tokens" if "tokens" in inputs else "input_ids"
        if self._token_input not in inputs or "style" not in inputs or "speed" not in inputs:
            raise FileProblemError(f"ONNX model has unexpected inputs {sorted(inputs)} "
                                   "(expected tokens, style, speed)", file=model_path,
                                   fix=fix_hint or "use a Kokoro ONNX export")
        self._speed_dtype = np.int32 if "int" in inputs["speed"].type else np.float32
        outputs = [o.name for o in first.get_outputs()]
        has_durations = DURATIONS_OUTPUT in outputs[1:]
        self._outputs = [outputs[0]] + ([DURATIONS_OUTPUT] if has_durations else [])
        self.durations_problem = None if has_durations else (
            durations_problem or f"{model_path.name} has no {DURATIONS_OUTPUT} output")
        self._source = graph or model_path
        self._source_optimized = graph is not None
        self.sessions = max(1, sessions)
        self._pool_lock = threading.Lock()
        self._closed = False
        self._wide = first if has_wide else None
        # With a wide session the narrow ones are opened when two streams first overlap: a server
        # that never serves two at once keeps the memory of one session.
        self._pool: SessionPool[Any] | None = None if has_wide else SessionPool(
            [first] + [self._open_more(self.threads) for _ in range(self.sessions - 1)], name=model_path.name)
        self._state_lock = threading.Lock()
        self._streams = 0  # streams inside streaming()
        self._calls = 0  # calls inside synthesize()
        self.calls_on = {"wide": 0, "narrow": 0}  # calls served by each kind of session so far
        layout = f"{self.sessions} session(s) x {self.threads} thread(s)"
        if has_wide:
            layout = f"1 session x {wide_threads} thread(s) for a lone stream, {layout} when streams overlap"
        self.description = (f"onnxruntime {ort.__version__} CPU, {layout}, {model_path.name}"
                            f"{' with durations' if has_durations else ''}, optimized graph {self.graph_origin}")

    def _open_more(self, threads: int) -> Any:
        return self._open(self._source, optimize=not self._source_optimized, threads=threads)

    def _narrow_pool(self) -> SessionPool[Any]:
        with self._pool_lock:
            if self._pool is None:
                if self._closed:
                    raise BackendUnavailableError(f"the model {self._model_path.name} was unloaded")
                self._pool = SessionPool([self._open_more(self.threads) for _ in range(self.sessions)],
                                         name=self._model_path.name)
                log.info("%s: opened %d session(s) x %d thread(s) for overlapping streams",
                         self._model_path.name, self.sessions, self.threads)
            return self._pool

    def _first_session(self, cache: GraphCache | None, *, threads: int) -> tuple[Any, Path | None]:
        """A session from the saved optimized graph if it verifies, else from the model (saving its graph)."""
        self.graph_origin = "not saved"
        if cache is None:
            return self._open(self._model_path, optimize=True, threads=threads), None
        graph = cache.load()
        if graph is not None:
            try:
                session = self._open(graph, optimize=False, saved=True, threads=threads)
                self.graph_origin = f"loaded from {cache.folder}"
                return session, graph
            except Exception as exc:  # onnxruntime raises its own types; the original model still works
                log.warning("the saved optimized graph of %s does not load (%s); optimizing again",
                            self._model_path.name, type(exc).__name__)
                cache.discard()
        target = cache.new_target()
        try:
            session = self._open(self._model_path, optimize=True, save_to=target and target.path, threads=threads)
        except BaseException:
            if target is not None:
                target.discard()
            raise
        graph = cache.commit(target) if target is not None else None
        if graph is not None:
            self.graph_origin = f"saved to {cache.folder}"
        return session, graph

    def _open(self, model: Path, *, optimize: bool, save_to: Path | None = None, saved: bool = False,
              threads: int = 0) -> Any:
        ort = self._ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or self.threads
        options.inter_op_num_threads = 1
        # Memory patterns are planned and kept per input shape, and every utterance length is a new
        # shape: with them RSS kept growing over 40 calls of mixed lengths (203 -> 628 MiB); without
        # them it stopped growing after 10 (503 MiB), at the same speed (README, Performance).
        options.enable_mem_pattern = False
        if self._shared_cores:
            # Threads that spin while waiting for work take a core from another session's threads.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                            else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        if save_to is not None:
            options.optimized_model_filepath = str(save_to)
        try:
            return ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
            if saved:
                raise
            raise FileProblemError(f"model file cannot be loaded, it is corrupt or not an ONNX model "
                                   f"({type(exc).__name__})", file=model,
                                   fix=self._fix_hint or "replace the file") from exc

    @contextmanager
    def streaming(self) -> Iterator[None]:
        """Marks one stream live for its whole length (between its calls too), so that a call picks
        the wide session only while it is the one stream."""
        with self._state_lock:
            self._streams += 1
        try:
            yield
        finally:
            with self._state_lock:
                self._streams -= 1

    def synthesize(self, tokens: Sequence[int], style: np.ndarray, speed: float) -> SynthesisOutput:
        ids = np.array([[0, *tokens, 0]], dtype=np.int64)
        feeds = {self._token_input: ids, "style": np.asarray(style, dtype=np.float32).reshape(1, -1),
                 "speed": np.array([speed], dtype=self._speed_dtype)}
        with self._state_lock:
            self._calls += 1
            alone = self._calls == 1 and self._streams <= 1
        try:
            outputs = self._run(feeds, alone)
        finally:
            with self._state_lock:
                self._calls -= 1
        audio = np.asarray(outputs[0], dtype=np.float32).reshape(-1)
        durations = np.asarray(outputs[1]).reshape(-1).astype(np.int64) if len(outputs) > 1 else None
        if durations is not None and (durations.size != len(tokens) + 2
                                      or int(durations.sum()) * FRAME_SAMPLES != audio.size):
            log.warning("%s: durations (%d frames for %d tokens) do not match the audio (%d samples); "
                        "dropped", self._model_path.name, int(durations.sum()), len(tokens), audio.size)
            durations = None
        return SynthesisOutput(audio=audio, durations=durations)

    def _run(self, feeds: dict[str, np.ndarray], alone: bool) -> list[Any]:
        wide = self._wide
        if alone and wide is not None:  # alone: the only call in progress, so the wide session is free
            self.calls_on["wide"] += 1
            return wide.run(self._outputs, feeds)
        with self._narrow_pool().use() as session:
            with self._state_lock:
                self.calls_on["narrow"] += 1
            return session.run(self._outputs, feeds)

    def close(self) -> None:
        """Release the sessions; calls in progress finish, later ones fail."""
        with self._pool_lock:
            self._closed = True
            self._wide = None
            if self._pool is not None:
                self._pool.close()
