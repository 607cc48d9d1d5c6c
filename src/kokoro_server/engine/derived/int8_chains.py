"""Static int8 for chosen convolutions of a dynamically quantized ONNX model (graph surgery).

A dynamically quantized conv in the int8 Kokoro export is a chain of five nodes run on every call:
``DynamicQuantizeLinear(x)`` (a min/max pass and a quantize pass), ``ConvInteger`` (uint8 x uint8,
a slow kernel on x86), an int32 bias ``Add``, a ``Cast`` and a scale ``Mul``. With activation ranges
measured beforehand on real speech (calibration) it becomes ``QuantizeLinear`` -> ``QLinearConv``
(uint8 x int8 with per-channel symmetric weights: the VNNI/AVX2 kernels) -> ``DequantizeLinear``.
Only what the selection names changes; every other node, the duration predictor included, is kept.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

NOISE_BRANCH = re.compile(r"/generator/noise_(res|convs)\.")
"""The convs the product quantizes statically: the vocoder's noise (harmonic source) branch."""


@dataclass(frozen=True)
class ConvChain:
    """One dynamically quantized conv: its float input and output and the nodes between them."""

    conv: onnx.NodeProto
    x: str  # float input (before DynamicQuantizeLinear)
    y: str  # float output (after the scale Mul)
    weight: np.ndarray  # float32 [out, in, k], dequantized
    bias: np.ndarray | None  # float32 [out]
    output_node: onnx.NodeProto  # the scale Mul that produces ``y``


@dataclass(frozen=True)
class Range:
    low: float
    high: float

    def quant_params(self) -> tuple[np.float32, np.uint8]:
        """uint8 asymmetric scale and zero point covering [low, high] and 0."""
        low, high = min(self.low, 0.0), max(self.high, 0.0)
        scale = (high - low) / 255.0 or 1.0
        zero = int(np.clip(round(-low / scale), 0, 255))
        return np.float32(scale), np.uint8(zero)


class _Graph:
    def __init__(self, model: onnx.ModelProto) -> None:
        graph = model.graph
        self.initializers = {i.name: i for i in graph.initializer}
        self.producer = {o: n for n in graph.node for o in n.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for node in graph.node:
            for name in node.input:
                self.consumers[name].append(node)

    def constant(self, name: str) -> np.ndarray | None:
        init = self.initializers.get(name)
        return numpy_helper.to_array(init) if init is not None else None

    def only_consumer(self, name: str, op_type: str) -> onnx.NodeProto | None:
        nodes = self.consumers.get(name, [])
        return nodes[0] if len(nodes) == 1 and nodes[0].op_type == op_type else None

    def float_vector(self, name: str, size: int, depth: int = 0) -> np.ndarray | None:
        """The float32 [size] constant upstream of ``name`` (the float bias the int32 one came from)."""
        value = self.constant(name)
        if value is not None:
            return value if value.dtype == np.float32 and value.shape == (size,) else None
        node = self.producer.get(name)
        if node is None or depth > 6:
            return None
        for upstream in node.input:
            found = self.float_vector(upstream, size, depth + 1)
            if found is not None:
                return found
        return None


def find_chains(model: onnx.ModelProto, select: Callable[[str], bool]) -> list[ConvChain]:
    """The dynamically quantized conv chains whose ConvInteger node name ``select`` accepts."""
    g = _Graph(model)
    chains = []
    for node in model.graph.node:
        if node.op_type != "ConvInteger" or not select(node.name):
            continue
        quantize = g.producer.get(node.input[0])
        wq, wz = g.constant(node.input[1]), g.constant(node.input[3]) if len(node.input) > 3 else None
        if quantize is None or quantize.op_type != "DynamicQuantizeLinear" or wq is None or wz is None:
            continue
        after = g.consumers.get(node.output[0], [])
        add = after[0] if len(after) == 1 and after[0].op_type == "Add" else None
        cast = g.only_consumer(add.output[0] if add is not None else node.output[0], "Cast")
        mul = g.only_consumer(cast.output[0], "Mul") if cast is not None else None
        scale_node = g.producer.get(mul.input[1]) if mul is not None else None
        if mul is None or scale_node is None:
            continue
        weight_scales = [s for s in (g.constant(i) for i in scale_node.input) if s is not None]
        if len(weight_scales) != 1:
            continue
        weight = ((wq.astype(np.float32) - np.float32(wz)) * weight_scales[0]).astype(np.float32)
        bias = g.float_vector(add.input[1], weight.shape[0]) if add is not None else None
        if add is not None and bias is None:
            continue
        chains.append(ConvChain(node, quantize.input[0], mul.output[0], weight, bias, mul))
    return chains


def quantize_statically(model: onnx.ModelProto, chains: list[ConvChain], ranges: dict[str, Range]) -> int:
    """Replace each chain by QuantizeLinear -> QLinearConv -> DequantizeLinear, in place; returns the count."""
    graph = model.graph
    for chain in chains:
        prefix = chain.conv.name
        x_scale, x_zero = ranges[chain.x].quant_params()
        y_scale, y_zero = ranges[chain.y].quant_params()
        flat = chain.weight.reshape(chain.weight.shape[0], -1)
        w_scale = (np.abs(flat).max(axis=1) / 127.0).astype(np.float32)
        w_scale[w_scale == 0] = 1.0
        shape = (-1,) + (1,) * (chain.weight.ndim - 1)
        w_q = np.clip(np.round(chain.weight / w_scale.reshape(shape)), -127, 127).astype(np.int8)
        constants = {
            "x_scale": np.array(x_scale), "x_zero": np.array(x_zero), "w": w_q, "w_scale": w_scale,
            "w_zero": np.zeros_like(w_scale, dtype=np.int8), "y_scale": np.array(y_scale), "y_zero": np.array(y_zero),
        }
        if chain.bias is not None:
            constants["bias"] = np.round(chain.bias / (np.float64(x_scale) * w_scale)).astype(np.int32)
        names = {key: f"{prefix}/static_{key}" for key in constants}
        graph.initializer.extend(numpy_helper.from_array(value, names[key]) for key, value in constants.items())
        inputs = [f"{prefix}/static_xq", names["x_scale"], names["x_zero"], names["w"], names["w_scale"],
                  names["w_zero"], names["y_scale"], names["y_zero"]] + ([names["bias"]] if chain.bias is not None else [])
        conv = helper.make_node("QLinearConv", inputs, [f"{prefix}/static_yq"], name=f"{prefix}/static")
        conv.attribute.extend(a for a in chain.conv.attribute if a.name != "auto_pad" or a.s != b"NOTSET")
        new_nodes = [
            helper.make_node("QuantizeLinear", [chain.x, names["x_scale"], names["x_zero"]], [f"{prefix}/static_xq"],
                             name=f"{prefix}/static_quantize"),
            conv,
            helper.make_node("DequantizeLinear", [f"{prefix}/static_yq", names["y_scale"], names["y_zero"]], [chain.y],
                             name=f"{prefix}/static_dequantize"),
        ]
        position = list(graph.node).index(chain.output_node)
        graph.node.remove(chain.output_node)
        for offset, node in enumerate(new_nodes):
            graph.node.insert(position + offset, node)
    remove_unused(model)
    return len(chains)


def remove_unused(model: onnx.ModelProto) -> None:
    """Drop nodes whose outputs nothing reads, and initializers no node reads."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    while True:
        used = {name for node in graph.node for name in node.input} | outputs
        dead = [node for node in graph.node if not any(o in used for o in node.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    used = {name for node in graph.node for name in node.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)
