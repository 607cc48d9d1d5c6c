"""Apple silicon's Neural Engine and GPU through Core ML (in onnxruntime's macOS wheels)."""

from kokoro_server.engine.providers.base import ExecutionProvider

PROVIDER = ExecutionProvider(name="coreml", ort_name="CoreMLExecutionProvider", package="onnxruntime (macOS)")
