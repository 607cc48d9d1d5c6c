"""onnxruntime's default CPU provider: always there, and what every other provider falls back to."""

from kokoro_server.engine.providers.base import ExecutionProvider

PROVIDER = ExecutionProvider(name="cpu", ort_name="CPUExecutionProvider", package="onnxruntime",
                             saves_graph=True)
