"""The quality bar, run on variants of the installed model: are they as good as the shipped int8?

    python bench/quality.py [--variant lossless] [--variant snake-cos] [--model LABEL=PATH ...]
                            [--threads 2] [--no-listen] [--json FILE] [--data-dir DIR]

Renders the check set (:data:`kokoro_server.engine.derived.quality.bar.CHECK_SET`: 16 utterances, 4 voices,
English and French) with the float reference (all 87 ``ConvInteger`` chains as float ``Conv`` on
the same weights), the shipped int8 model and each variant, and prints per model: log-mel
distance to the float reference (mean / max dB), durations against the shipped model's, Whisper
base's word errors, DNSMOS OVRL / SIG / BAK / P.808, and whether it passes the bar
(:class:`kokoro_server.engine.derived.quality.bar.QualityBar`). Variants:

* ``lossless``: :mod:`kokoro_server.engine.derived.recipes.lossless_int8_gemm` (bit-identical to the shipped model; must pass);
* ``snake-cos``: every snake's ``sin(a x) ** 2`` computed as ``0.5 - 0.5 cos(2 a x)``: exact in
  real arithmetic, different float rounding (what a fused native snake does): it shows how far a
  float-exact change moves the distance to the reference;
* ``static-all``: every conv as static int8 (:mod:`kokoro_server.engine.derived.int8_chains`, calibrated on
  :data:`kokoro_server.engine.derived.recipes.calibrated_int8.CALIBRATION_SET`), known to fail;
* ``calibrated``: :func:`kokoro_server.engine.derived.recipes.calibrated_int8.derive`'s choice for this CPU;
* ``native``: the native generator (``kokoro-native``), when it is installed;
* ``--model LABEL=PATH``: any ONNX file with the same inputs.

The references' audio is cached in ``~/.cache/kokoro-server/quality-bar`` (keyed by the model's
SHA-256, the check set and onnxruntime's version).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import workload

CACHE = Path.home() / ".cache" / "kokoro-server" / "quality-bar"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", default=[],
                        choices=["lossless", "snake-cos", "static-all", "calibrated", "native"])
    parser.add_argument("--model", action="append", default=[], help="LABEL=PATH of another ONNX variant")
    parser.add_argument("--groups", help="comma-separated conv groups for --variant calibrated (default: this CPU kind's plan)")
    bar_options(parser)
    args = parser.parse_args()

    import onnx

    from kokoro_server.engine.derived.quality.bar import figures_table, onnx_renderer

    root, source, _, bar = open_bar(args)
    utterances = bar.utterances
    verdicts = []
    for name in args.variant or ["lossless", "snake-cos"]:
        started = time.perf_counter()
        renderer = make_variant(name, source, onnx, root, args.threads, args.groups)
        verdicts.append(bar.judge(name if name != "calibrated" or not args.groups else f"calibrated: {args.groups}",
                                  renderer))
        print(f"{name}: judged in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    for item in args.model:
        label, path = item.split("=", 1)
        verdicts.append(bar.judge(label, onnx_renderer(Path(path), args.threads)))
    info = workload.machine()
    seconds = sum(bar.shipped.samples) / 24_000
    print(f"\nquality bar: {len(utterances)} utterances ({seconds:.1f} s of audio), 4 voices, en + fr; "
          f"{info['cpu']}, onnxruntime {info['onnxruntime']}")
    workload.print_table(*figures_table(verdicts))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": info, "verdicts": [v.record() for v in verdicts],
                                               "per_utterance": {v.variant.label: {"distance_db": v.variant.distances_db,
                                                                                   "word_errors": v.variant.word_errors}
                                                                 for v in verdicts},
                                               "shipped_word_errors": bar.shipped.word_errors,
                                               "texts": [u.text for u in bar.utterances]}, indent=2, default=str))
    return 0


def bar_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-listen", action="store_true", help="durations and distance only (no Whisper, DNSMOS)")
    parser.add_argument("--data-dir")
    parser.add_argument("--json")


def open_bar(args: argparse.Namespace):
    """(data dir, model file, service, the quality bar on the full check set) for ``bar_options``' arguments."""
    from kokoro_server.engine.derived.quality.bar import QualityBar
    from kokoro_server.optimize.check_set import check_utterances
    from kokoro_server.service import SpeechService
    from kokoro_server.settings import Settings

    root = workload.data_dir(args.data_dir)
    source = workload.model_path(root)
    service = SpeechService(Settings(data_dir=root))
    started = time.perf_counter()
    bar = QualityBar(source, check_utterances(service), threads=args.threads, listen=not args.no_listen, cache=CACHE,
                     progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"references ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return root, source, service, bar


def make_variant(name: str, source: Path, onnx, root: Path, threads: int, groups: str | None = None):
    from kokoro_server.engine.derived.quality.bar import onnx_renderer

    if name == "lossless":
        from kokoro_server.engine.derived.recipes.lossless_int8_gemm import rewrite

        return onnx_renderer(rewrite(onnx.load(str(source))).model.SerializeToString(), threads)
    if name == "snake-cos":
        return onnx_renderer(snake_by_cosine(onnx.load(str(source))).SerializeToString(), threads)
    if name in ("static-all", "calibrated"):
        from kokoro_server.engine.derived.recipes import calibrated_int8 as calibrated
        from kokoro_server.optimize.check_set import check_utterances
        from kokoro_server.service import SpeechService
        from kokoro_server.settings import Settings

        service = SpeechService(Settings(data_dir=root))
        feeds = [u.feeds() for u in check_utterances(service, calibrated.CALIBRATION_SET)]
        calibration = calibrated.Calibration.measure(source, feeds, threads)
        chosen = tuple(calibrated.GROUPS) if name == "static-all" else \
            tuple(groups.split(",")) if groups else calibrated.plan_for_this_cpu()
        return onnx_renderer(calibration.build(chosen), threads)
    if name == "native":
        from kokoro_server.engine.derived.recipes import native_generator

        return native_generator.renderer(source, threads)
    raise ValueError(name)


def snake_by_cosine(model):
    """Every ``Pow(Sin(u), 2)`` as ``0.5 - 0.5 * Cos(2 u)``: the same in real numbers, other roundings."""
    from onnx import helper, numpy_helper

    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    names = {"two": np.float32(2.0), "half": np.float32(0.5), "minus_half": np.float32(-0.5)}
    graph.initializer.extend(numpy_helper.from_array(np.array(v), f"snake_cos/{k}") for k, v in names.items())
    nodes = []
    for node in graph.node:
        sin = producer.get(node.input[0]) if node.op_type == "Pow" else None
        if sin is None or sin.op_type != "Sin":
            nodes.append(node)
            continue
        u, out, p = sin.input[0], node.output[0], node.name
        nodes += [helper.make_node("Mul", [u, "snake_cos/two"], [f"{p}/u2"]),
                  helper.make_node("Cos", [f"{p}/u2"], [f"{p}/cos"]),
                  helper.make_node("Mul", [f"{p}/cos", "snake_cos/minus_half"], [f"{p}/half_cos"]),
                  helper.make_node("Add", [f"{p}/half_cos", "snake_cos/half"], [out])]
    del graph.node[:]
    graph.node.extend(nodes)
    from kokoro_server.engine.derived.int8_chains import remove_unused

    remove_unused(model)
    return model


if __name__ == "__main__":
    sys.exit(main())
