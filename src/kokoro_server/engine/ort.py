"""onnxruntime, imported quietly, and its sessions made one way (options, provider) for every user:
the backend, the derivation of model files and the provider check."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kokoro_server.engine.providers import ExecutionProvider
from kokoro_server.errors import BackendUnavailableError

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


def open_session(ort: Any, model: Path | bytes, provider: ExecutionProvider, *, threads: int,
                 optimize: bool = True, save_to: Path | None = None, shared_cores: bool = False) -> Any:
    """An ``InferenceSession`` of ``model`` (a file or its bytes) on ``provider``.

    ``optimize=False`` for a graph onnxruntime already optimized and saved (``save_to``); memory
    patterns are off: they are planned per input shape and every utterance length is a new one (RSS
    kept growing, 203 -> 628 MiB over 40 calls of mixed lengths, at the same speed without them).
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_mem_pattern = False
    if shared_cores:  # threads that spin while waiting for work take a core from another session's
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    if save_to is not None:
        options.optimized_model_filepath = str(save_to)
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=provider.session_providers())


Runner = Callable[[Path | bytes, Callable[[bytes], Any], int], Any]


def open_model(ort: Any, model: Path | bytes, provider: ExecutionProvider, *, threads: int, optimize: bool = True,
               shared_cores: bool = False, runner: Runner | None = None) -> Any:
    """A model file as something with a session's interface: an onnxruntime session, or, for a file a
    recipe runs itself (``Recipe.runner``), what that runner makes of it, its ONNX parts opened as
    sessions with the same options."""
    if runner is None:
        return open_session(ort, model, provider, threads=threads, optimize=optimize, shared_cores=shared_cores)
    return runner(model, lambda part: open_session(ort, part, provider, threads=threads, shared_cores=shared_cores),
                  threads)
