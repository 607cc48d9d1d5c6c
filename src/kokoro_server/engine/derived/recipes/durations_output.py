"""The ``durations`` output: the frames the duration predictor gives each token, for word timestamps.

The torch backend gets them from ``KModel``; most ONNX exports (the embedded int8 model among them)
output audio only, yet the rounded frame counts are computed inside the graph: ``Round`` -> ``Clip``
(at least one frame) -> ``Cast`` to int64, which the length regulator then sums up. This recipe adds
that tensor as a second graph output, ``durations``, and changes nothing else (the derivation
checks that the audio stays bit-identical and that the frames add up to its length). A model that
already has the output is left as it is; one without a recognisable predictor cannot give word
timestamps, and the problem says so.
"""

from __future__ import annotations

from typing import Any

from kokoro_server.engine.derived.recipes.base import Applied, Recipe, RecipeContext

OUTPUT = "durations"


def find_durations_tensor(graph: Any) -> str | None:
    """The int64 frames per token: the output of ``Cast(to=int64)`` of ``Clip`` of ``Round`` (what
    ``round(d).clamp(min=1).long()`` of Kokoro's duration predictor exports to); None unless exactly one."""
    producer = {output: node for node in graph.node for output in node.output}

    def made_by(tensor: str, op: str) -> Any:
        node = producer.get(tensor)
        return node if node is not None and node.op_type == op else None

    found = []
    for node in graph.node:
        if node.op_type != "Cast" or not any(a.name == "to" and a.i == 7 for a in node.attribute):  # 7: INT64
            continue
        clip = made_by(node.input[0], "Clip")
        if clip is not None and made_by(clip.input[0], "Round") is not None:
            found.append(node.output[0])
    return found[0] if len(found) == 1 else None


def add_durations_output(model: Any, context: RecipeContext | None = None) -> Applied:
    """``model`` (edited in place) with the ``durations`` output, if it can have one."""
    from onnx import TensorProto, helper

    name = context.source.name if context is not None else "the model"
    if any(output.name == OUTPUT for output in model.graph.output):
        return Applied(model, False, "the model has its own durations output")
    tensor = find_durations_tensor(model.graph)
    if tensor is None:
        return Applied(model, False, "no durations", problem=(
            f"{name} has no durations output and no duration predictor the server recognises "
            "(Round -> Clip -> Cast to int64), so it cannot give word timestamps"))
    model.graph.node.append(helper.make_node("Identity", [tensor], [OUTPUT], name="kokoro_server_durations"))
    model.graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.INT64, None))
    return Applied(model, True, f"durations output ({tensor})", facts={"durations_tensor": tensor})


RECIPE = Recipe(name="durations-output", version=1, apply=add_durations_output, purpose="function")
