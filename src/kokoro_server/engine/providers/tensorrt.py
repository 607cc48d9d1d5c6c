"""NVIDIA TensorRT (``onnxruntime-gpu`` with the TensorRT libraries); nodes it cannot take run on CUDA's
or the CPU's kernels. It compiles an engine per input shape: the first calls of each length are slow."""

from kokoro_server.engine.providers.base import ExecutionProvider

PROVIDER = ExecutionProvider(name="tensorrt", ort_name="TensorrtExecutionProvider", package="onnxruntime-gpu",
                             note="builds an engine per input shape: the first calls of each length are slow")
