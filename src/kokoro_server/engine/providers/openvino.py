"""Intel CPUs, GPUs and NPUs through OpenVINO (``pip install onnxruntime-openvino``). Measured on the
int8 model on an AMD EPYC: slower than the CPU provider, other durations (bench/README.md)."""

from kokoro_server.engine.providers.base import ExecutionProvider

PROVIDER = ExecutionProvider(name="openvino", ort_name="OpenVINOExecutionProvider", package="onnxruntime-openvino",
                             options={"device_type": "CPU"})
