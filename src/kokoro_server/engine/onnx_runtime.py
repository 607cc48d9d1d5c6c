"""ONNX Runtime backend (CPU by default). ``onnxruntime`` is imported only when this backend loads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from kokoro_server.engine.base import SynthesisOutput
from kokoro_server.errors import BackendUnavailableError, FileProblemError


class OnnxBackend:
    name = "onnx"

    def __init__(self, model_path: Path, *, threads: int = 0, fix_hint: str = "") -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - it is a core dependency
            raise BackendUnavailableError("onnxruntime is not installed (pip install onnxruntime)") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(str(model_path), sess_options=options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise FileProblemError(f"model file cannot be loaded, it is corrupt or not an ONNX model "
                                   f"({type(exc).__name__})", file=model_path,
                                   fix=fix_hint or "replace the file") from exc
        inputs = {i.name: i for i in self._session.get_inputs()}
        self._token_input = "tokens" if "tokens" in inputs else "input_ids"
        if self._token_input not in inputs or "style" not in inputs or "speed" not in inputs:
            raise FileProblemError(f"ONNX model has unexpected inputs {sorted(inputs)} "
                                   "(expected tokens, style, speed)", file=model_path,
                                   fix=fix_hint or "use a Kokoro ONNX export")
        self._speed_dtype = np.int32 if "int" in inputs["speed"].type else np.float32
        self.description = (f"onnxruntime {ort.__version__} CPU, {options.intra_op_num_threads} threads, "
                            f"{model_path.name}")

    def synthesize(self, tokens: Sequence[int], style: np.ndarray, speed: float) -> SynthesisOutput:
        ids = np.array([[0, *tokens, 0]], dtype=np.int64)
        feeds = {self._token_input: ids, "style": np.asarray(style, dtype=np.float32).reshape(1, -1),
                 "speed": np.array([speed], dtype=self._speed_dtype)}
        outputs = self._session.run(None, feeds)
        audio = np.asarray(outputs[0], dtype=np.float32).reshape(-1)
        durations = np.asarray(outputs[1]).reshape(-1) if len(outputs) > 1 else None
        return SynthesisOutput(audio=audio, durations=durations)

    def close(self) -> None:
        self._session = None  # type: ignore[assignment]
