"""ONNX Runtime backend (CPU by default). ``onnxruntime`` is imported only when this backend loads.

The backend holds a small pool of sessions; each runs one synthesis at a time, so up to
``sessions`` calls run in parallel and the rest wait for a free session. On a CPU, two 1-thread
sessions serving two requests at once deliver more audio per second than one 2-thread session
taking them in turn (see ``bench/concurrency.py``); :func:`session_layout` picks that split.
Sessions start from the optimized graph saved by :mod:`kokoro_server.engine.graph_cache`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from kokoro_server.engine.base import SynthesisOutput
from kokoro_server.engine.graph_cache import Fingerprint, GraphCache, cpu_signature
from kokoro_server.engine.pool import SessionPool
from kokoro_server.errors import BackendUnavailableError, FileProblemError

log = logging.getLogger("kokoro_server.engine")

OPTIMIZATION_LEVEL = "all"


def import_onnxruntime() -> Any:
    """``onnxruntime`` with its usage telemetry off (1.32 on Linux records events in ~/.cache and
    uploads them to Microsoft; a self-hosted server sends nothing). ``ORT_DISABLE_TELEMETRY=0`` in the
    environment keeps it on."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - it is a core dependency
        raise BackendUnavailableError("onnxruntime is not installed (pip install onnxruntime)") from exc
    if os.environ["ORT_DISABLE_TELEMETRY"] == "1":
        ort.disable_telemetry_events()  # in case it was imported before this function ran
    return ort


def session_layout(sessions: int, threads: int, concurrency: int, cores: int | None = None) -> tuple[int, int]:
    """(sessions, intra-op threads per session) for the settings, 0 meaning auto.

    Auto sessions: one per synthesis the server admits at once (``concurrency``), at most one per
    core; auto threads: the cores shared out among the sessions.
    """
    cores = max(1, cores or os.cpu_count() or 1)
    sessions = sessions or max(1, min(concurrency, cores))
    threads = threads or max(1, cores // sessions)
    return sessions, threads


class OnnxBackend:
    name = "onnx"

    def __init__(self, model_path: Path, *, sessions: int = 1, threads: int = 0, save_graph: bool = True,
                 fix_hint: str = "") -> None:
        ort = import_onnxruntime()
        self._ort = ort
        self._model_path = model_path
        self._fix_hint = fix_hint
        self.threads = threads or (os.cpu_count() or 1)
        cache = GraphCache(model_path, Fingerprint(ort.__version__, OPTIMIZATION_LEVEL, cpu_signature())) \
            if save_graph else None
        first, graph = self._first_session(cache)
        inputs = {i.name: i for i in first.get_inputs()}
        self._token_input = "tokens" if "tokens" in inputs else "input_ids"
        if self._token_input not in inputs or "style" not in inputs or "speed" not in inputs:
            raise FileProblemError(f"ONNX model has unexpected inputs {sorted(inputs)} "
                                   "(expected tokens, style, speed)", file=model_path,
                                   fix=fix_hint or "use a Kokoro ONNX export")
        self._speed_dtype = np.int32 if "int" in inputs["speed"].type else np.float32
        self._pool = SessionPool([first] + [self._open(graph or model_path, optimize=graph is None)
                                            for _ in range(max(1, sessions) - 1)], name=model_path.name)
        self.sessions = self._pool.size
        self.description = (f"onnxruntime {ort.__version__} CPU, {self.sessions} session(s) x {self.threads} "
                            f"thread(s), {model_path.name}, optimized graph {self.graph_origin}")

    def _first_session(self, cache: GraphCache | None) -> tuple[Any, Path | None]:
        """A session from the saved optimized graph if it verifies, else from the model (saving its graph)."""
        self.graph_origin = "not saved"
        if cache is None:
            return self._open(self._model_path, optimize=True), None
        graph = cache.load()
        if graph is not None:
            try:
                session = self._open(graph, optimize=False, saved=True)
                self.graph_origin = f"loaded from {cache.folder}"
                return session, graph
            except Exception as exc:  # onnxruntime raises its own types; the original model still works
                log.warning("the saved optimized graph of %s does not load (%s); optimizing again",
                            self._model_path.name, type(exc).__name__)
                cache.discard()
        target = cache.new_target()
        try:
            session = self._open(self._model_path, optimize=True, save_to=target)
        except BaseException:
            if target is not None:
                target.unlink(missing_ok=True)
            raise
        graph = cache.commit(target) if target is not None else None
        if graph is not None:
            self.graph_origin = f"saved to {cache.folder}"
        return session, graph

    def _open(self, model: Path, *, optimize: bool, save_to: Path | None = None, saved: bool = False) -> Any:
        ort = self._ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
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

    def synthesize(self, tokens: Sequence[int], style: np.ndarray, speed: float) -> SynthesisOutput:
        ids = np.array([[0, *tokens, 0]], dtype=np.int64)
        feeds = {self._token_input: ids, "style": np.asarray(style, dtype=np.float32).reshape(1, -1),
                 "speed": np.array([speed], dtype=self._speed_dtype)}
        with self._pool.use() as session:
            outputs = session.run(None, feeds)
        audio = np.asarray(outputs[0], dtype=np.float32).reshape(-1)
        durations = np.asarray(outputs[1]).reshape(-1) if len(outputs) > 1 else None
        return SynthesisOutput(audio=audio, durations=durations)

    def close(self) -> None:
        """Release the sessions; calls in progress finish, later ones fail."""
        self._pool.close()
