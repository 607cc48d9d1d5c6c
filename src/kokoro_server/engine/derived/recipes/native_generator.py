"""The vocoder's residual stages on native kernels; onnxruntime runs everything else.

The int8 export spends most of its time in the generator's eight ``AdaINResBlock1`` blocks
(``noise_res.0-1``, ``resblocks.0-5``): 48 convs, each behind an instance norm, the style's affine,
a snake activation and a ``DynamicQuantizeLinear``, about 1,000 onnxruntime nodes run one after
the other. Here the model is split at those blocks:

* the head (onnxruntime): text side, duration predictor, decoder, harmonic source, the noise
  convs and ``ups.0``; it also outputs each AdaIN's gain (1 + gamma) and bias, which depend on the
  style only;
* stage 0 (native): ``noise_res.0`` on the source, added to ``ups.0``'s output, then the mean of
  ``resblocks.0-2``;
* the middle (onnxruntime): leaky ReLU, ``ups.1``, reflection pad;
* stage 1 (native): ``noise_res.1``, then the mean of ``resblocks.3-5``;
* the tail (onnxruntime): leaky ReLU, ``conv_post``, inverse STFT.

The derived file is ONE ONNX file: the whole graph (with the lossless rewrite,
:mod:`kokoro_server.engine.derived.recipes.lossless_int8_gemm`, applied after this recipe), which
onnxruntime runs as it is (bit-identical to the file without this recipe) wherever the kernels are
missing, plus the blocks' parameters as initializers no node reads (``kokoro_native/...``) and a
metadata entry naming this recipe. Its runner (:func:`open_file`) cuts the three onnxruntime parts
out of it at load (about 0.1 s) and hands the blocks to the kernels. The native blocks
(``kokoro_native``) compute each conv with the shipped model's exact integer arithmetic (same uint8
weights and zero point, activations quantized per call as ``DynamicQuantizeLinear`` does, int32 bias ``floor(b / (sx sw))``), and the instance norm + affine +
snake + quantization in two passes over the tensor instead of about twenty nodes; only the float
rounding of those elementwise steps differs from the shipped graph. Durations are computed by the
head part, unchanged. Whether the result is good enough is decided by the quality bar
(:mod:`kokoro_server.engine.derived.quality.bar`), not assumed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kokoro_server.engine.derived.quality.bar import derivation_check
from kokoro_server.engine.derived.recipes.base import Applied, Recipe, RecipeContext

NAME = "native-generator"
G = "/decoder/decoder/generator/"
STAGES = (("noise_res.0", ("resblocks.0", "resblocks.1", "resblocks.2")),
          ("noise_res.1", ("resblocks.3", "resblocks.4", "resblocks.5")))
UP = (G + "ups.0/ConvTranspose_output_0", G + "reflection_pad/Pad_output_0")  # each stage's upsampled input
SOURCE = (G + "noise_convs.0/Conv_output_0", G + "noise_convs.1/Conv_output_0")  # noise_res inputs
STAGE_OUT = (G + "Div_2_output_0", G + "Div_4_output_0")  # mean of each stage's resblocks
EPS_TENSOR = "/encoder/F0.0/norm1/Constant_10_output_0"
KERNELS_ABI = 2
"""The recipe's version: the kernels' ABI it was judged with (their results change with it, the file's
bytes do not). A constant, so that a machine without the package, sharing the data dir, does not
take another machine's file for an outdated one; :func:`native_available` checks the installed ABI."""

PASSED_FULL_BAR: dict[tuple[str, int], str] = {
    ("avx512vnni", 2): "AMD EPYC Zen 4, onnxruntime 1.32, 2026-12-05: `python bench/quality.py --variant native`: "
                       "durations identical, 1.349 / 1.511 dB (shipped 1.352 / 1.497), Whisper 1 word error "
                       "(shipped 2), DNSMOS OVRL 3.434 SIG 3.653 P.808 4.049 (shipped 3.428 / 3.648 / 4.037)",
    ("avx2", 2): "the AVX2 path's arithmetic (kokoro_native.set_isa('avx2') on an AMD EPYC Zen 4), onnxruntime 1.32, "
                 "2026-12-06: `python bench/quality.py --variant native` with the avx2 path: durations identical, "
                 "1.349 / 1.498 dB (shipped 1.352 / 1.497), Whisper 2 word errors (shipped 2), DNSMOS OVRL 3.432 "
                 "SIG 3.651 P.808 4.055 (shipped 3.428 / 3.648 / 4.037); whether it is faster than the lossless "
                 "file on an AVX2-only CPU is measured by each derivation there (kept only if faster)",
}
"""The kernels' (code path, ABI) that passed the FULL quality bar (16 utterances, Whisper and DNSMOS
included; bench/README.md). Only these are selected by default; each derivation then checks the
file it made again on this machine (durations and distance,
:func:`~kokoro_server.engine.derived.quality.bar.derivation_check`)."""


def native_available() -> str | None:
    """Why the native kernels cannot run here (None: they can)."""
    try:
        import kokoro_native
    except ImportError:
        return "the native kernels are not installed (pip install ./native)"
    if kokoro_native.detected_isa() == "portable":
        return "the native int8 conv has no fast path for this CPU (no AVX2); onnxruntime runs the model"
    if kokoro_native.ABI != KERNELS_ABI:
        return f"the installed kernels' ABI {kokoro_native.ABI} is not the one this recipe knows ({KERNELS_ABI})"
    if (kokoro_native.isa(), kokoro_native.ABI) not in PASSED_FULL_BAR:
        return (f"the kernels' {kokoro_native.isa()} path (ABI {kokoro_native.ABI}) has not passed the full quality "
                "bar yet (bench/quality.py --variant native; then record it in PASSED_FULL_BAR)")
    return None



def status_line() -> str:
    """What ``kokoro-server models`` says about the native path on this machine."""
    why = native_available()
    if why is not None:
        return f"not used: {why}"
    import kokoro_native

    return (f"kokoro_native {kokoro_native.__version__}, {kokoro_native.isa()} path: the vocoder's residual blocks "
            f"run natively ({RECIPE.id}, selected while it verifies); onnxruntime is the fallback")


def _adain(block: str, which: str, i: int) -> tuple[str, str]:
    prefix = f"{G}{block}/{which}.{i}/"
    return prefix + "Add_1_output_0", prefix + "Slice_1_output_0"


def _blocks() -> list[str]:
    return [name for noise, resblocks in STAGES for name in (noise, *resblocks)]


def _conv_params(model: Any) -> dict[str, dict[str, np.ndarray]]:
    """Per ``ConvInteger`` of the blocks: uint8 weights, zero point, scale, float bias, dilation, pad."""
    from onnx import helper, numpy_helper

    from kokoro_server.engine.derived.int8_chains import find_chains

    initializers = {i.name: i for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    found = {}
    for chain in find_chains(model, lambda name: name.startswith(G) and any(f"/{b}/" in name for b in _blocks())):
        node = chain.conv
        weight = numpy_helper.to_array(initializers[node.input[1]])
        zero = numpy_helper.to_array(initializers[node.input[3]])
        scale_node = producer[chain.output_node.input[1]]
        scales = [numpy_helper.to_array(initializers[i]) for i in scale_node.input if i in initializers]
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if weight.dtype != np.uint8 or len(scales) != 1 or chain.bias is None or attrs.get("group", 1) != 1 \
                or list(attrs.get("strides", [1])) != [1]:
            raise ValueError(f"{node.name}: not the int8 export's conv chain this recipe knows")
        key = node.name[len(G):].rsplit("/", 1)[0]  # e.g. resblocks.3/convs1.1
        found[key] = {"w": weight, "w_zero": np.array(int(zero)), "w_scale": np.float32(scales[0].reshape(())),
                      "bias": chain.bias.astype(np.float32), "dilation": np.array(int(attrs.get("dilations", [1])[0])),
                      "pad": np.array(int(attrs.get("pads", [0])[0]))}
    return found


PARAMS = "kokoro_native/"  # prefix of the blocks' parameters in the derived file
RUNNER_KEY = "kokoro_server.runner"


def _parameters(model: Any) -> dict[str, np.ndarray]:
    """The blocks' conv parameters, AdaIN epsilon and snake alphas of the int8 export ``model``."""
    from onnx import numpy_helper

    convs = _conv_params(model)
    if len(convs) != 48:
        raise ValueError(f"expected the 48 int8 convs of the generator's blocks, found {len(convs)}")
    initializers = {i.name: i for i in model.graph.initializer}
    arrays: dict[str, np.ndarray] = {"eps": numpy_helper.to_array(initializers[EPS_TENSOR]).astype(np.float32)}
    for key, values in convs.items():
        arrays.update({f"{key}/{name}": np.asarray(value) for name, value in values.items()})
    for block in _blocks():
        for which in ("alpha1", "alpha2"):
            for i in range(3):
                name = f"decoder.decoder.generator.{block}.{which}.{i}"
                alpha = numpy_helper.to_array(initializers[name])
                arrays[f"{block}/{which}.{i}"] = alpha.astype(np.float32).reshape(-1)
    return arrays


def apply(model: Any, context: RecipeContext) -> Applied:
    """The native form of ``model`` (edited in place): the blocks' parameters and the runner's mark.
    ``lossless-int8-gemm``, applied after it, puts the graph's int8 convs on the GEMM as usual."""
    from onnx import numpy_helper

    try:
        arrays = _parameters(model)
    except (KeyError, ValueError) as exc:
        return Applied(model, False, "not the int8 export's generator", problem=f"{NAME}: {exc}")
    graph = model
    graph.graph.initializer.extend(numpy_helper.from_array(value, PARAMS + key) for key, value in arrays.items())
    kept = [p for p in graph.metadata_props if p.key != RUNNER_KEY]
    del graph.metadata_props[:]
    graph.metadata_props.extend(kept)
    entry = graph.metadata_props.add()
    entry.key, entry.value = RUNNER_KEY, NAME
    import kokoro_native

    return Applied(graph, True, f"the vocoder's 48 block convs and 96 norm + snake layers on the native kernels "
                   f"({kokoro_native.isa()}, kernels ABI {kokoro_native.ABI})",
                   facts={"native_isa": kokoro_native.isa(), "native_abi": kokoro_native.ABI})


def open_file(model: Path | bytes, open_part: Callable[[bytes], Any], threads: int = 1) -> NativeGeneratorSession:
    """The runner: the derived file as a session (its three onnxruntime parts opened by ``open_part``)."""
    import onnx
    from onnx import numpy_helper
    from onnx.utils import Extractor

    graph = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(str(model))
    marks = {p.key: p.value for p in graph.metadata_props}
    if marks.get(RUNNER_KEY) != NAME:
        raise ValueError(f"not a file of {NAME} (its mark: {marks.get(RUNNER_KEY)})")
    arrays = {i.name[len(PARAMS):]: numpy_helper.to_array(i) for i in graph.graph.initializer
              if i.name.startswith(PARAMS)}
    keep = [i for i in graph.graph.initializer if not i.name.startswith(PARAMS)]
    del graph.graph.initializer[:]
    graph.graph.initializer.extend(keep)
    adain_outputs = [t for block in _blocks() for which in ("adain1", "adain2") for i in range(3)
                     for t in _adain(block, which, i)]
    extractor = Extractor(graph)
    inputs = [i.name for i in graph.graph.input]
    outputs = [o.name for o in graph.graph.output]
    extra = outputs[1:]  # e.g. ``durations``: computed before the generator
    parts = (extractor.extract_model(inputs, [UP[0], SOURCE[0], SOURCE[1], *adain_outputs, *extra]),
             extractor.extract_model([STAGE_OUT[0]], [UP[1]]),
             extractor.extract_model([STAGE_OUT[1]], outputs[:1]))
    del graph, extractor
    return NativeGeneratorSession([open_part(part.SerializeToString()) for part in parts], arrays, threads)


@dataclass
class _Block:
    convs1: list[Any]
    convs2: list[Any]
    adain1: list[tuple[str, str]]
    adain2: list[tuple[str, str]]
    alpha1: list[np.ndarray]
    alpha2: list[np.ndarray]
    inv1: list[np.ndarray]
    inv2: list[np.ndarray]


class NativeGeneratorSession:
    """Runs the native form like an onnxruntime session: ``get_inputs()``, ``get_outputs()`` and
    ``run(names, feeds) -> [audio, *extra outputs such as durations]``; ``parts``: the head, middle
    and tail sessions; ``arrays``: the blocks' parameters (:func:`_parameters`)."""

    def __init__(self, parts: Sequence[Any], arrays: dict[str, np.ndarray], threads: int = 1) -> None:
        import kokoro_native

        self.threads = max(1, threads)
        self.native = kokoro_native
        self.head, self.middle, self.tail = parts
        self.head_outputs = [o.name for o in self.head.get_outputs()]
        tail = {o.name for o in self.tail.get_outputs()}
        known = {UP[0], *SOURCE} | {t for b in _blocks() for w in ("adain1", "adain2") for i in range(3) for t in _adain(b, w, i)}
        self.extra = [o for o in self.head.get_outputs() if o.name not in known and o.name not in tail]
        self.eps = float(arrays["eps"])
        self.blocks: dict[str, _Block] = {}
        for block in _blocks():
            def conv(key: str) -> Any:
                p = {name: arrays[f"{block}/{key}/{name}"] for name in ("w", "w_zero", "w_scale", "bias", "dilation", "pad")}
                return kokoro_native.Conv(p["w"], int(p["w_zero"]), float(p["w_scale"]), p["bias"], int(p["dilation"]),
                                          int(p["pad"]))

            alphas = {which: [np.ascontiguousarray(arrays[f"{block}/{which}.{i}"]) for i in range(3)]
                      for which in ("alpha1", "alpha2")}
            self.blocks[block] = _Block(
                [conv(f"convs1.{i}") for i in range(3)], [conv(f"convs2.{i}") for i in range(3)],
                [_adain(block, "adain1", i) for i in range(3)], [_adain(block, "adain2", i) for i in range(3)],
                alphas["alpha1"], alphas["alpha2"],
                [(np.float32(1) / a).astype(np.float32) for a in alphas["alpha1"]],
                [(np.float32(1) / a).astype(np.float32) for a in alphas["alpha2"]])
        self.isa = kokoro_native.isa()

    def get_outputs(self) -> list[Any]:
        return [*self.tail.get_outputs(), *self.extra]

    def get_inputs(self) -> list[Any]:
        return self.head.get_inputs()

    def _block(self, name: str, x: np.ndarray, moments: tuple[np.ndarray, np.ndarray], values: dict[str, np.ndarray]) -> np.ndarray:
        """One AdaINResBlock1 on a time-major x; ``moments``: x's per-channel (sum, sum of squares).
        Each conv hands the next instance norm its output's moments, so only the block's input is
        reduced separately (once per stage, for all the blocks that read it)."""
        b = self.blocks[name]
        k, n = self.native, self.threads
        for i in range(3):
            c1, c2 = b.convs1[i], b.convs2[i]
            gain, beta = (values[t].reshape(-1) for t in b.adain1[i])
            q, rowsum, scale, zero = k.adain_snake_quantize(x, gain, beta, b.alpha1[i], b.inv1[i], self.eps, c1.pad,
                                                            c1.pad, n, moments)
            h, h_moments = c1(q, rowsum, zero, scale, None, n, True)
            gain, beta = (values[t].reshape(-1) for t in b.adain2[i])
            q, rowsum, scale, zero = k.adain_snake_quantize(h, gain, beta, b.alpha2[i], b.inv2[i], self.eps, c2.pad,
                                                            c2.pad, n, h_moments)
            if i < 2:
                x, moments = c2(q, rowsum, zero, scale, x, n, True)
            else:  # the block's output is summed with the others, not normalized
                x = c2(q, rowsum, zero, scale, x, n)
        return x

    def _stage(self, index: int, up: np.ndarray, values: dict[str, np.ndarray]) -> np.ndarray:
        noise, resblocks = STAGES[index]
        source = np.ascontiguousarray(values[SOURCE[index]][0].T)
        x = np.ascontiguousarray(up[0].T)
        x += self._block(noise, source, self.native.channel_moments(source, self.threads), values)
        moments = self.native.channel_moments(x, self.threads)
        total = self._block(resblocks[0], x, moments, values)
        for name in resblocks[1:]:
            total += self._block(name, x, moments, values)
        total /= np.float32(3.0)
        return np.ascontiguousarray(total.T)[None]

    def run(self, output_names: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        values = dict(zip(self.head_outputs, self.head.run(None, feeds)))
        x = self._stage(0, values[UP[0]], values)
        up = self.middle.run(None, {STAGE_OUT[0]: x})[0]
        x = self._stage(1, up, values)
        audio = self.tail.run(None, {STAGE_OUT[1]: x})
        return [*audio, *(values[o.name] for o in self.extra)]


def native_form(source: Path) -> bytes:
    """The native form of the model file ``source``, serialized (what a derivation writes, less the
    durations output and the check): for benchmarks and the bar."""
    import onnx

    from kokoro_server.engine.derived.recipes.lossless_int8_gemm import rewrite

    applied = apply(onnx.load(str(source)), RecipeContext(Path(source), "cpu"))
    if applied.problem is not None:
        raise ValueError(applied.problem)
    return rewrite(applied.model).model.SerializeToString()


def session(model: Path | bytes, threads: int = 1) -> NativeGeneratorSession:
    """The native form (a file or its bytes) as a session, its parts with all graph optimizations."""
    from kokoro_server.engine.derived.quality.bar import onnx_session

    return open_file(model, lambda part: onnx_session(part, threads), threads)


def renderer(source: Path, threads: int = 2) -> Callable[[Any], np.ndarray]:
    """A quality-bar renderer (utterance -> audio) of the native form of ``source`` (made in memory)."""
    native = session(native_form(source), threads)
    return lambda u: native.run(None, u.feeds())[0].reshape(-1)


RECIPE = Recipe(name=NAME, version=KERNELS_ABI, apply=apply, purpose="speed", exact=False, providers=frozenset({"cpu"}),
                quality_check=derivation_check, available=native_available, runner=open_file)
"""Lossy (float rounding of the elementwise layers differs from onnxruntime's), so judged by the bar."""
