"""A lossless rewrite of the int8 export's convolutions onto onnxruntime's fast int8 GEMM.

Every ``ConvInteger`` of the int8 Kokoro export multiplies uint8 activations (from a
``DynamicQuantizeLinear``) by uint8 weights; onnxruntime's u8 x u8 convolution runs at a fraction
of the speed of its u8 x s8 GEMM (VNNI / AMX). The rewrite computes exactly the same int32 sums on
that GEMM:

* the activations are quantized a second time, to int8 with the zero point shifted by -128
  (``QuantizeLinear(x, scale, zero - 128)`` is the uint8 value minus 128, exactly: same scale, same
  rounding, the clamp moves with it), once per tensor however many convs read it;
* an im2col of those int8 values (``Pad`` with the zero point, one strided ``Slice`` per kernel tap,
  ``Concat``) shared by the convs with the same input, kernel, dilation, stride and padding;
* ``MatMulInteger(W, cols)`` with the original uint8 weights ``W`` [out, in * k] as the left
  operand, which is onnxruntime's u8 x s8 kernel: sum (w - w_zero) (x_s8 - (x_zero - 128)) equals
  sum (w - w_zero) (x_u8 - x_zero) term by term.

Its int32 output replaces the conv's; the bias ``Add``, ``Cast`` and scale ``Mul`` after it are
kept, so the audio is bit-identical.

It also squares by multiplying: every ``Pow(x, 2.0)`` (the snake activations' ``sin(a x) ** 2``)
becomes ``Mul(x, x)``, which onnxruntime computes as the same float (x * x rounded once) in a cheaper
kernel. No other float operation is reordered or fused: this model's audio moves by up to 0.7 dB
log-mel when a single conv's output changes by one part in 2^22 (``bench/sensitivity.py``), so only
exact rewrites keep the speech. Graph inputs and outputs are untouched; :func:`rewrite` is a
function from a graph to a graph and composes with other derivations.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx

from kokoro_server.engine.derived.recipes.base import Applied, Recipe, RecipeContext

NAME = "lossless-int8-gemm"


@dataclass(frozen=True)
class Rewritten:
    model: onnx.ModelProto
    convs: int  # uint8 ConvInteger nodes now on the u8 x s8 GEMM
    squares: int  # Pow(x, 2) nodes now Mul(x, x)

    @property
    def changed(self) -> bool:
        return bool(self.convs or self.squares)

    def summary(self) -> str:
        return f"{self.convs} convs on the u8 x s8 GEMM, {self.squares} squares as products"


@dataclass(frozen=True)
class _Conv:
    node: onnx.NodeProto
    x: str  # the float input of the DynamicQuantizeLinear
    scale: str  # its scale output
    zero: str  # its zero point output
    weight: np.ndarray  # uint8 [out, in, k]
    weight_zero: str
    kernel: int
    dilation: int
    stride: int
    pads: tuple[int, int]


def _attributes(node: onnx.NodeProto) -> dict[str, object]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _convs(model: onnx.ModelProto) -> list[_Conv]:
    from onnx import TensorProto, numpy_helper

    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    found = []
    for node in graph.node:
        if node.op_type != "ConvInteger" or len(node.input) < 4:
            continue
        quantize = producer.get(node.input[0])
        weight = initializers.get(node.input[1])
        if (quantize is None or quantize.op_type != "DynamicQuantizeLinear" or weight is None
                or weight.data_type != TensorProto.UINT8 or len(weight.dims) != 3
                or node.input[2] != quantize.output[2] or node.input[3] not in initializers):
            continue
        attrs = _attributes(node)
        if attrs.get("group", 1) != 1 or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            continue
        pads = tuple(attrs.get("pads", (0, 0)))
        found.append(_Conv(node, quantize.input[0], quantize.output[1], quantize.output[2],
                           numpy_helper.to_array(weight), node.input[3], int(weight.dims[2]),
                           int(attrs.get("dilations", [1])[0]), int(attrs.get("strides", [1])[0]),
                           (int(pads[0]), int(pads[1]))))
    return found


class _Builder:
    def __init__(self, model: onnx.ModelProto) -> None:
        self.graph = model.graph
        self.constants: dict[tuple[str, bytes], str] = {}
        self.taken = {n for node in self.graph.node for n in (*node.input, *node.output)}
        self.taken |= {i.name for i in self.graph.initializer}

    def name(self, base: str) -> str:
        name, n = base, 0
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name

    def constant(self, value: np.ndarray) -> str:
        from onnx import numpy_helper

        key = (str(value.dtype), value.tobytes() + str(value.shape).encode())
        if key not in self.constants:
            name = self.name(f"lossless/const{len(self.constants)}")
            self.graph.initializer.append(numpy_helper.from_array(value, name))
            self.constants[key] = name
        return self.constants[key]

    def ints(self, *values: int) -> str:
        return self.constant(np.array(values, dtype=np.int64))


def rewrite(model: onnx.ModelProto) -> Rewritten:
    """A copy of ``model`` with its dynamically quantized uint8 convs on the u8 x s8 GEMM and its
    squares as products, and how many of each."""
    import onnx

    result = onnx.ModelProto()
    result.CopyFrom(model)
    moved = {conv.node.input[1] for conv in _convs(result)}  # the weights that move to new constants
    rewritten = Rewritten(result, _gemm_convs(result), _square_by_product(result))
    if rewritten.changed:
        _drop_unused(result, moved)
    return rewritten


def _square_by_product(model: onnx.ModelProto) -> int:
    """``Pow(x, c)`` with ``c`` a float initializer equal to 2 becomes ``Mul(x, x)``, in place."""
    from onnx import TensorProto, numpy_helper

    twos = {i.name for i in model.graph.initializer  # scalars only: the weights are not converted
            if i.data_type == TensorProto.FLOAT and math.prod(i.dims) == 1 and numpy_helper.to_array(i).item() == 2.0}
    count = 0
    for node in model.graph.node:
        if node.op_type == "Pow" and node.domain in ("", "ai.onnx") and len(node.input) == 2 \
                and node.input[1] in twos:
            node.op_type = "Mul"
            node.input[1] = node.input[0]
            count += 1
    return count


def _gemm_convs(result: onnx.ModelProto) -> int:
    """The uint8 ConvInteger nodes rewritten onto the u8 x s8 GEMM, in place; their count."""
    import onnx
    from onnx import TensorProto, helper

    convs = _convs(result)
    if not convs:
        return 0
    b = _Builder(result)
    graph = result.graph
    # new nodes go just before the first conv that needs them (the DQL outputs exist by then)
    before: dict[int, list[onnx.NodeProto]] = defaultdict(list)
    position = {id(node): i for i, node in enumerate(graph.node)}
    signed: dict[str, tuple[str, str]] = {}  # x -> (int8 [1, C, 1, T], int8 zero point)
    padded: dict[tuple[str, tuple[int, int]], str] = {}
    columns: dict[tuple[str, int, int, int, tuple[int, int]], str] = {}
    replaced = set()
    for conv in convs:
        where = before[position[id(conv.node)]]
        prefix = conv.node.name or conv.node.output[0]
        if conv.x not in signed:
            zero16 = b.name(f"{prefix}/lossless_zero16")
            zero16s = b.name(f"{prefix}/lossless_zero16s")
            zero8 = b.name(f"{prefix}/lossless_zero_s8")
            q = b.name(f"{prefix}/lossless_xs8")
            q4 = b.name(f"{prefix}/lossless_xs8_4d")
            where += [
                helper.make_node("Cast", [conv.zero], [zero16], to=TensorProto.INT16),
                helper.make_node("Sub", [zero16, b.constant(np.array(128, np.int16))], [zero16s]),
                helper.make_node("Cast", [zero16s], [zero8], to=TensorProto.INT8),
                helper.make_node("QuantizeLinear", [conv.x, conv.scale, zero8], [q]),
                helper.make_node("Reshape", [q, b.ints(0, 0, 1, -1)], [q4]),
            ]
            signed[conv.x] = (q4, zero8)
        q4, zero8 = signed[conv.x]
        channels = conv.weight.shape[1]
        key = (conv.x, conv.kernel, conv.dilation, conv.stride, conv.pads)
        if key not in columns:
            if conv.kernel == 1 and conv.stride == 1 and conv.pads == (0, 0):
                source = q4
                taps = [source]
            else:
                if conv.pads == (0, 0):
                    source = q4
                elif (conv.x, conv.pads) in padded:
                    source = padded[conv.x, conv.pads]
                else:
                    source = b.name(f"{prefix}/lossless_pad")
                    where.append(helper.make_node("Pad", [q4, b.ints(0, 0, 0, conv.pads[0], 0, 0, 0, conv.pads[1]),
                                                          zero8], [source]))
                    padded[conv.x, conv.pads] = source
                taps = []
                span = (conv.kernel - 1) * conv.dilation
                for k in range(conv.kernel):
                    tap = b.name(f"{prefix}/lossless_tap{k}")
                    end = -(span - k * conv.dilation) or np.iinfo(np.int64).max
                    where.append(helper.make_node("Slice", [source, b.ints(k * conv.dilation), b.ints(end),
                                                            b.ints(3), b.ints(conv.stride)], [tap]))
                    taps.append(tap)
            stacked = taps[0]
            if len(taps) > 1:
                stacked = b.name(f"{prefix}/lossless_taps")
                where.append(helper.make_node("Concat", taps, [stacked], axis=2))
            cols = b.name(f"{prefix}/lossless_cols")
            where.append(helper.make_node("Reshape", [stacked, b.ints(channels * conv.kernel, -1)], [cols]))
            columns[key] = cols
        out = conv.weight.shape[0]
        weight = b.constant(conv.weight.reshape(out, -1))
        product = b.name(f"{prefix}/lossless_gemm")
        where += [
            helper.make_node("MatMulInteger", [weight, columns[key], conv.weight_zero, zero8], [product],
                             name=f"{prefix}/lossless"),
            helper.make_node("Reshape", [product, b.ints(1, out, -1)], [conv.node.output[0]]),
        ]
        replaced.add(id(conv.node))
    nodes = []
    for i, node in enumerate(graph.node):
        nodes.extend(before.get(i, []))
        if id(node) not in replaced:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return len(convs)


def _drop_unused(model: onnx.ModelProto, names: set[str]) -> None:
    """The initializers of ``names`` that no node reads any more (the convs' weights moved to new
    constants); others are left as they are (another recipe's data, e.g. the native kernels')."""
    graph = model.graph
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    keep = [i for i in graph.initializer if i.name in used or i.name not in names]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def _apply(model: onnx.ModelProto, context: RecipeContext) -> Applied:
    rewritten = rewrite(model)
    if not rewritten.changed:
        return Applied(model, False, "no uint8 ConvInteger or square to rewrite")
    return Applied(rewritten.model, True, rewritten.summary(),
                   facts={"convs": rewritten.convs, "squares": rewritten.squares})


RECIPE = Recipe(name=NAME, version=2, apply=_apply, purpose="speed", providers=frozenset({"cpu"}))
"""Version 2 squares by multiplying too (a file of version 1 is stale and derived again)."""
