"""A tiny ONNX "TTS" with Kokoro's inputs and no duration predictor: a user model that cannot time words."""

from __future__ import annotations

from pathlib import Path


def tiny_model(path: Path) -> Path:
    """Its audio is its style vector (256 samples per call): no durations output, no duration predictor."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Reshape", ["style", "flat"], ["audio"])], "tiny",
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, [1, None]),
         helper.make_tensor_value_info("style", TensorProto.FLOAT, [1, 256]),
         helper.make_tensor_value_info("speed", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [256])],
        [helper.make_tensor("flat", TensorProto.INT64, [1], [-1])])
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path
