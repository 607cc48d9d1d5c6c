"""The float reference: the installed int8 model's own weights, computed in float.

The shipped int8 export quantizes every convolution's activations per call
(``DynamicQuantizeLinear`` -> ``ConvInteger`` -> int32 bias ``Add`` -> ``Cast`` -> scale ``Mul``).
Its weights *are* the model; the per-call rounding of the activations is the error. The float
reference replaces each of those chains (all 87 of them: text encoder, F0/N predictors, decoder and
vocoder) by one float ``Conv`` on the dequantized weights and float bias, and leaves every other
node as it is. Durations do not change (the duration predictor has no ``ConvInteger``); the audio
is what the weights say without activation rounding, which is what a faster variant is judged
against (:mod:`kokoro_server.engine.derived.quality.bar`).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from kokoro_server.engine.derived.int8_chains import ConvChain, find_chains, remove_unused


def float_chains(model: onnx.ModelProto) -> list[ConvChain]:
    """Every dynamically quantized conv chain of ``model``."""
    return find_chains(model, lambda name: True)


def float_reference(model: onnx.ModelProto, chains: list[ConvChain] | None = None) -> onnx.ModelProto:
    """A copy of ``model`` with each chain (default: all) as a float ``Conv`` writing the chain's
    float output tensor (same name, so the rest of the graph is untouched)."""
    result = onnx.ModelProto()
    result.CopyFrom(model)
    graph = result.graph
    for chain in float_chains(result) if chains is None else chains:
        prefix = chain.conv.name
        inputs = [chain.x, f"{prefix}/float_w"]
        graph.initializer.append(numpy_helper.from_array(chain.weight, inputs[1]))
        if chain.bias is not None:
            inputs.append(f"{prefix}/float_b")
            graph.initializer.append(numpy_helper.from_array(chain.bias.astype(np.float32), inputs[2]))
        conv = helper.make_node("Conv", inputs, [chain.y], name=f"{prefix}/float")
        conv.attribute.extend(a for a in chain.conv.attribute if a.name != "auto_pad" or a.s != b"NOTSET")
        position = next(i for i, n in enumerate(graph.node) if chain.y in n.output)
        del graph.node[position]
        graph.node.insert(position, conv)
    remove_unused(result)
    return result
