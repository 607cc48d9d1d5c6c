"""NVIDIA GPUs through CUDA (``pip install onnxruntime-gpu`` in place of ``onnxruntime``)."""

from kokoro_server.engine.providers.base import ExecutionProvider

PROVIDER = ExecutionProvider(name="cuda", ort_name="CUDAExecutionProvider", package="onnxruntime-gpu",
                             options={"cudnn_conv_algo_search": "HEURISTIC"}, automatic=True)
