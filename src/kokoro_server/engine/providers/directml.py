"""Any DirectX 12 GPU on Windows through DirectML (``pip install onnxruntime-directml``)."""

from kokoro_server.engine.providers.base import ExecutionProvider

PROVIDER = ExecutionProvider(name="directml", ort_name="DmlExecutionProvider", package="onnxruntime-directml")
