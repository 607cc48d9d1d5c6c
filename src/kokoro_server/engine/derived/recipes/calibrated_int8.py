"""Calibrated static int8, chosen layer group by layer group with the quality bar's distance.

Every conv of the int8 export quantizes its input per call (dynamic). Static quantization
(``QuantizeLinear -> QLinearConv -> DequantizeLinear`` with ranges measured beforehand on
:data:`CALIBRATION_SET`, per-channel 8-bit weights: :func:`kokoro_server.engine.derived.int8_chains.quantize_statically`)
saves the per-call range pass and runs onnxruntime's fused u8 x s8 conv, but adds two roundings
(the weights again, and the output) and clips to the calibrated range. Whether a layer can take it
is measured, not assumed: :func:`search` makes each group of convs (:data:`GROUPS`) static on its
own, orders the groups by how far that moves the log-mel distance to the float reference
(:class:`kokoro_server.engine.derived.quality.bar.QualityBar`, on a subset of its check set), and adds them in
that order while the distance stays inside the bar with a safety margin. What stays dynamic goes
through the lossless rewrite (:mod:`kokoro_server.engine.derived.recipes.lossless_int8_gemm`). The choice depends on the
CPU's int8 kernels (onnxruntime's u8 x s8 arithmetic saturates on AVX2 without VNNI), so it is
recorded per CPU kind (:data:`PLANS`) and checked again by the full bar when a model is derived.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kokoro_server.engine.derived.quality.bar import derivation_check
from kokoro_server.engine.derived.recipes.base import Applied, Recipe, RecipeContext

NAME = "calibrated-int8"
PERCENTILE = 99.99
SAFETY_DB = 0.03  # the search keeps this much of the bar's margin free for the full check set

CALIBRATION_SET: tuple[tuple[str, str], ...] = (
    ("af_bella", "Please remember to bring your umbrella, because it might rain this afternoon."),
    ("af_bella", "What time does the library open on Sunday?"),
    ("am_adam", "Scientists believe the ancient forest is over three thousand years old!"),
    ("am_adam", "The museum's new exhibition features paintings from five different centuries."),
    ("bm_george", "Our neighbours painted their fence bright yellow over the long weekend."),
    ("ff_siwis", "La boulangerie du quartier ouvre ses portes très tôt chaque matin."),
)
"""(voice, text) pairs for the activation ranges: other texts than the bar's check set."""

GROUPS: dict[str, re.Pattern[str]] = {
    "text and prosody convs": re.compile(r"^/encoder/"),
    "decoder": re.compile(r"^/decoder/decoder/(encode|decode\.\d|F0_conv|N_conv|asr_res)/"),
    "noise convs": re.compile(r"/generator/noise_convs\."),
    **{f"noise_res.{i}": re.compile(rf"/generator/noise_res\.{i}/") for i in range(2)},
    **{f"resblocks.{i}": re.compile(rf"/generator/resblocks\.{i}/") for i in range(6)},
}
"""Groups of convs that go static together (every one of the 87 chains is in exactly one)."""

PLANS: dict[str, tuple[str, ...]] = {
    # AMD EPYC (Zen 4), onnxruntime 1.32, 2026-12-05: bench/calibrate.py --subset 0,8,12 chose these
    # and resblocks.1, which then failed the full bar (Whisper: 3 word errors against the shipped
    # model's 2); without it the full bar passes (bench/quality.py --variant calibrated).
    "avx512-vnni": ("decoder", "noise_res.0", "noise convs", "resblocks.0", "resblocks.2", "noise_res.1",
                    "resblocks.5"),
}
"""The groups :func:`search` chose per CPU kind (see bench/README.md, "calibrated int8"); a CPU
kind without an entry gets no plan (``kokoro-server optimize`` then tries the noise branch alone)."""


def int8_kind() -> str:
    """What decides onnxruntime's int8 kernels here: amx-int8, avx512-vnni, avx-vnni, avx2 or other."""
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(("flags", "Features")):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    for kind, flag in (("amx-int8", "amx_int8"), ("avx512-vnni", "avx512_vnni"), ("avx-vnni", "avx_vnni"), ("avx2", "avx2")):
        if flag in flags:
            return kind
    return "other"


def plan_for_this_cpu() -> tuple[str, ...]:
    return PLANS.get(int8_kind(), ())


def group_of(name: str) -> str | None:
    return next((group for group, pattern in GROUPS.items() if pattern.search(name)), None)


def activation_ranges(model: Any, tensors: Sequence[str], feeds: Sequence[dict[str, np.ndarray]],
                      threads: int = 2) -> dict[str, tuple[float, float]]:
    """Per tensor: the widest [low, high] percentile range over the calibration inputs."""
    import onnx

    from kokoro_server.engine.derived.quality.bar import onnx_session

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(t) for t in tensors if t not in known)
    session = onnx_session(probe.SerializeToString(), threads)
    del probe
    names = [o.name for o in session.get_outputs()]
    ranges: dict[str, tuple[float, float]] = {}
    for feed in feeds:
        values = dict(zip(names, session.run(None, feed)))
        for name in tensors:
            low, high = np.percentile(values[name], [100 - PERCENTILE, PERCENTILE])
            old_low, old_high = ranges.get(name, (np.inf, -np.inf))
            ranges[name] = (min(old_low, float(low)), max(old_high, float(high)))
    return ranges


@dataclass
class Calibration:
    """The source model and every chain's calibrated input and output ranges."""

    model: Any
    ranges: dict[str, Any]

    @classmethod
    def measure(cls, source: Path, feeds: Sequence[dict[str, np.ndarray]], threads: int = 2) -> Calibration:
        import onnx

        return cls.of(onnx.load(str(source)), feeds, threads)

    @classmethod
    def of(cls, model: Any, feeds: Sequence[dict[str, np.ndarray]], threads: int = 2) -> Calibration:
        from kokoro_server.engine.derived.int8_chains import Range, find_chains

        chains = find_chains(model, lambda name: True)
        tensors = sorted({c.x for c in chains} | {c.y for c in chains})
        ranges = activation_ranges(model, tensors, feeds, threads)
        return cls(model, {name: Range(*r) for name, r in ranges.items()})

    def build(self, groups: Sequence[str]) -> bytes:
        """The model with the chains of ``groups`` static and the rest through the lossless rewrite."""
        import onnx

        from kokoro_server.engine.derived.recipes.lossless_int8_gemm import rewrite
        from kokoro_server.engine.derived.int8_chains import find_chains, quantize_statically

        model = onnx.ModelProto()
        model.CopyFrom(self.model)
        chosen = set(groups)
        chains = find_chains(model, lambda name: group_of(name) in chosen)
        if chains:
            quantize_statically(model, chains, self.ranges)
        return rewrite(model).model.SerializeToString()


def static_count(model: Any, groups: Sequence[str]) -> int:
    """How many dynamically quantized convs of ``model`` the ``groups`` hold."""
    from kokoro_server.engine.derived.int8_chains import find_chains

    chosen = set(groups)
    return len(find_chains(model, lambda name: group_of(name) in chosen))


@dataclass(frozen=True)
class SearchStep:
    groups: tuple[str, ...]
    mean_db: float
    max_db: float
    durations: bool
    kept: bool


def search(calibration: Calibration, bar: Any, subset: Sequence[int], threads: int = 2,
           progress: Callable[[str], None] = lambda message: None) -> tuple[tuple[str, ...], list[SearchStep]]:
    """Sensitivity-ordered greedy choice of static groups; returns the chosen groups and every step."""
    from kokoro_server.engine.derived.quality.bar import MAX_MARGIN_DB, MEAN_MARGIN_DB, onnx_renderer

    utterances = [bar.utterances[i] for i in subset]
    reference = [bar.reference_audio[i] for i in subset]
    shipped = [bar.shipped_audio[i] for i in subset]
    from kokoro_server.engine.derived.quality.distance import log_mel_distance

    base = [log_mel_distance(r, s) for r, s in zip(reference, shipped)]
    limit_mean = float(np.mean(base)) + MEAN_MARGIN_DB - SAFETY_DB
    limit_max = float(np.max(base)) + MAX_MARGIN_DB - SAFETY_DB

    def measure(groups: tuple[str, ...]) -> tuple[float, float, bool]:
        render = onnx_renderer(calibration.build(groups), threads)
        audio = [render(u) for u in utterances]
        d = [log_mel_distance(r, a) for r, a in zip(reference, audio)]
        return float(np.mean(d)), float(np.max(d)), all(a.size == s.size for a, s in zip(audio, shipped))

    steps: list[SearchStep] = []
    alone = {}
    for group in GROUPS:
        mean, worst, same = measure((group,))
        alone[group] = mean
        steps.append(SearchStep((group,), mean, worst, same, False))
        progress(f"{group} alone: {mean:.3f} / {worst:.3f} dB (shipped {np.mean(base):.3f}), durations {same}")
    chosen: tuple[str, ...] = ()
    for group in sorted(GROUPS, key=lambda g: alone[g]):
        trial = (*chosen, group)
        mean, worst, same = measure(trial)
        kept = same and mean <= limit_mean and worst <= limit_max
        steps.append(SearchStep(trial, mean, worst, same, kept))
        progress(f"+ {group}: {mean:.3f} / {worst:.3f} dB -> {'kept' if kept else 'dropped'}")
        if kept:
            chosen = trial
    return chosen, steps


def _available() -> str | None:
    if not plan_for_this_cpu():
        return (f"no static int8 group passed the quality bar on this CPU kind ({int8_kind()}); "
                "bench/calibrate.py searches one, bench/quality.py --variant calibrated judges it")
    return None


def apply(model: Any, context: RecipeContext) -> Applied:
    """This CPU kind's plan (:data:`PLANS`) made static, calibrated on the context's inputs (``kokoro-server
    optimize`` passes the calibration set; see :mod:`kokoro_server.optimize.command`)."""
    import onnx

    plan = plan_for_this_cpu()
    if not plan or not context.check_feeds:
        return Applied(model, False, "no plan", problem=_available() or "no calibration inputs")
    convs = static_count(model, plan)
    data = Calibration.of(model, context.check_feeds, threads=1).build(plan)
    return Applied(onnx.load_from_string(data), True, f"{convs} convs as calibrated static int8 ({', '.join(plan)})",
                   facts={"int8_kind": int8_kind(), "static_groups": list(plan), "static_convs": convs})


RECIPE = Recipe(name=NAME, version=1, apply=apply, purpose="speed", exact=False, automatic=False,
                providers=frozenset({"cpu"}), quality_check=derivation_check, available=_available)
"""Not automatic: calibration wants real voices and texts (``kokoro-server optimize`` brings them and
judges the result with the full bar before it installs it as the base the automatic recipes build on)."""
