"""The original int8 model against its derived variants, interleaved in one run.

    python bench/variants.py [--runs 3] [--threads 1,2] [--tokens 16,64,128,256] [--json FILE]
                             [--model LABEL=PATH ...] [--no-native] [--calibrated]
                             [--no-profile] [--no-rss] [--no-peak]

Variants: ``lossless`` (:mod:`kokoro_server.engine.derived.recipes.lossless_int8_gemm`, what the server runs by default),
``native`` (:mod:`kokoro_server.engine.derived.recipes.native_generator`: the generator's blocks on the native
kernels, when ``kokoro_native`` is installed), ``calibrated`` (with ``--calibrated``: the static
int8 groups :data:`kokoro_server.engine.derived.recipes.calibrated_int8.PLANS` lists for this CPU kind), plus any
``--model`` files (e.g. ``kokoro-server optimize``'s output). On a busy machine the minimum of
the runs says more than the median: both are printed, and the spread of the per-run ratios. For each (model, threads):
ms of compute per audio second (sum of per-utterance medians / audio seconds) and the ratio to the
original's in the same run; the largest sample difference from the original's audio; the share of
kernel time per op type (onnxruntime's profiler, 1 thread, one 128-token utterance); peak RSS of a
fresh process that opens the model and synthesizes once; and this CPU's int8 peak (a large
u8 x s8 ``MatMulInteger``) with the model's distance to it: 27.7 GMAC per audio second (see
bench/README.md, Serving and engine performance) over that peak, next to ours.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import workload

SAMPLE_RATE = 24_000
GMAC_PER_AUDIO_S = 27.7


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--tokens", default="16,64,128,256")
    parser.add_argument("--model", action="append", default=[], help="LABEL=PATH of another variant")
    parser.add_argument("--voice", default="af_heart")
    parser.add_argument("--data-dir")
    parser.add_argument("--no-native", action="store_true")
    parser.add_argument("--calibrated", action="store_true")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--no-rss", action="store_true")
    parser.add_argument("--no-peak", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()

    import onnx

    from kokoro_server.engine.derived.recipes.lossless_int8_gemm import rewrite

    root = workload.data_dir(args.data_dir)
    original = workload.model_path(root)
    scratch = Path(tempfile.mkdtemp(prefix="kokoro-variants-"))
    seconds, rewritten = workload.timed(lambda: rewrite(onnx.load(str(original))))
    lossless = scratch / "lossless.onnx"
    onnx.save(rewritten.model, str(lossless))
    summary = rewritten.summary()
    print(f"lossless: {summary}, rewritten in {seconds:.1f} s", file=sys.stderr)
    del rewritten
    models = {"original": original, "lossless": lossless}
    native_file = None
    if not args.no_native:
        from kokoro_server.engine.derived.recipes import native_generator

        why = native_generator.native_available()
        if why is None:
            native_file = scratch / "native.onnx"
            seconds, data = workload.timed(lambda: native_generator.native_form(original))
            native_file.write_bytes(data)
            print(f"native: derived in {seconds:.1f} s", file=sys.stderr)
            models["native"] = native_file
        else:
            print(f"native: skipped ({why})", file=sys.stderr)
    if args.calibrated:
        from kokoro_server.engine.derived.recipes import calibrated_int8 as calibrated
        from kokoro_server.optimize.check_set import check_utterances
        from kokoro_server.service import SpeechService
        from kokoro_server.settings import Settings

        plan = calibrated.plan_for_this_cpu()
        feeds = [u.feeds() for u in check_utterances(SpeechService(Settings(data_dir=root)), calibrated.CALIBRATION_SET)]
        models["calibrated"] = scratch / "calibrated.onnx"
        models["calibrated"].write_bytes(calibrated.Calibration.measure(original, feeds).build(plan))
        print(f"calibrated: static groups {plan or 'none'} ({calibrated.int8_kind()})", file=sys.stderr)
    models.update({label: Path(path) for label, path in (item.split("=", 1) for item in args.model)})
    threads = [int(t) for t in args.threads.split(",")]
    utterances = workload.utterances(root, args.voice, [int(t) for t in args.tokens.split(",")])
    configs = [(label, n) for n in threads for label in models]
    audio, diff = {}, collections.defaultdict(float)
    times, cpu = collections.defaultdict(list), collections.defaultdict(list)
    for n in threads:  # one thread count at a time: the sessions of one count in memory, interleaved
        sessions = {label: open_any(label, path, n) for label, path in models.items()}
        for u in utterances:  # warm-up, audio lengths, and the samples against the original's
            reference = None
            for label, session in sessions.items():
                out = workload.run_once(session, u)
                audio[label, n, len(u.tokens)] = out.size / SAMPLE_RATE
                reference = out if reference is None else reference
                same = out.size == reference.size
                diff[label] = max(diff[label], float(np.max(np.abs(out - reference))) if same else float("inf"))
        for run in range(args.runs):
            for u in utterances:
                for label, session in sessions.items():
                    started = time.process_time()
                    seconds, _ = workload.timed(lambda: workload.run_once(session, u))
                    times[label, n, len(u.tokens)].append(seconds)
                    cpu[label, n, len(u.tokens)].append(time.process_time() - started)
            print(f"{n} thread(s): run {run + 1}/{args.runs}, load {workload.machine()['load']}", file=sys.stderr)
            if args.json:  # what is measured so far survives an interrupted run
                Path(args.json).parent.mkdir(parents=True, exist_ok=True)
                Path(args.json).write_text(json.dumps({"partial": True, "audio": {
                    "|".join(map(str, k)): v for k, v in audio.items()}, "wall": {"|".join(map(str, k)): v for k, v in times.items()},
                    "cpu": {"|".join(map(str, k)): v for k, v in cpu.items()}}, indent=1))
        del sessions
    ort_models = {label: path for label, path in models.items() if label != "native"}
    results: dict[str, object] = {"machine": workload.machine(), "runs": args.runs, "lossless": summary, "timing": []}
    rows = []
    per_audio, per_audio_min, run_ratios = {}, {}, {}
    for label, n in configs:
        total_audio = sum(audio[label, n, len(u.tokens)] for u in utterances)
        medians = [workload.median(times[label, n, len(u.tokens)]) for u in utterances]
        per_audio[label, n] = sum(medians) / total_audio * 1000
        per_audio_min[label, n] = sum(min(times[label, n, len(u.tokens)]) for u in utterances) / total_audio * 1000
    per_audio_cpu = {}
    for label, n in configs:  # process CPU time: with 1 thread, the compute itself, whatever the machine's load
        total_audio = sum(audio[label, n, len(u.tokens)] for u in utterances)
        per_audio_cpu[label, n] = sum(min(cpu[label, n, len(u.tokens)]) for u in utterances) / total_audio * 1000
    for label, n in configs:  # each run's ratio (sum over utterances, this run) to the original's
        run_ratios[label, n] = [sum(times[label, n, len(u.tokens)][r] for u in utterances)
                                / sum(times["original", n, len(u.tokens)][r] for u in utterances) for r in range(args.runs)]
    for label, n in configs:
        ratio = per_audio[label, n] / per_audio["original", n]
        ratio_min = per_audio_min[label, n] / per_audio_min["original", n]
        spread = run_ratios[label, n]
        ratio_cpu = per_audio_cpu[label, n] / per_audio_cpu["original", n]
        rows.append([label, n, f"{per_audio[label, n]:.0f}", f"{ratio:.3f}", f"{per_audio_min[label, n]:.0f}",
                     f"{ratio_min:.3f}", f"{min(spread):.3f}-{max(spread):.3f}", f"{per_audio_cpu[label, n]:.0f}",
                     f"{ratio_cpu:.3f}", f"{diff[label]:.3g}"])
        results["timing"].append({"model": label, "threads": n, "ms_per_audio_s": per_audio[label, n],
                                  "ratio_to_original": ratio, "ms_per_audio_s_min": per_audio_min[label, n],
                                  "ratio_to_original_min": ratio_min, "run_ratios": spread,
                                  "cpu_ms_per_audio_s": per_audio_cpu[label, n], "cpu_ratio_to_original": ratio_cpu,
                                  "max_abs_diff": diff[label]})
    info = results["machine"]
    print(f"\nvariants, {args.runs} runs, {len(utterances)} utterances ({args.tokens} tokens); "
          f"{info['cpu']}, {info['cores']} cores, load {info['load']}, onnxruntime {info['onnxruntime']}")
    workload.print_table(["model", "threads", "ms per audio s (median)", "x original", "ms (min)", "x original (min)",
                          "x original per run", "CPU ms (min)", "x original (CPU)", "max |diff| to original"], rows)
    if not args.no_profile:
        results["op_share"] = {label: op_shares(path, utterances[min(2, len(utterances) - 1)]) for label, path in ort_models.items()}
        ops = sorted({op for shares in results["op_share"].values() for op in list(shares)[:8]},
                     key=lambda op: -results["op_share"]["original"].get(op, 0))
        print("\nshare of kernel time per op type (1 thread, onnxruntime's profiler; native: its onnxruntime part only):")
        workload.print_table(["op type"] + list(ort_models),
                             [[op] + [f"{results['op_share'][m].get(op, 0) * 100:.1f}%" for m in ort_models] for op in ops])
        if native_file is not None:
            results["native_stages"] = native_stages(native_file, utterances[min(2, len(utterances) - 1)])
            print("native, where its time goes (1 thread, one utterance): "
                  + ", ".join(f"{k} {v * 100:.1f}%" for k, v in results["native_stages"].items()))
    if not args.no_rss:
        results["rss_mib"] = {label: peak_rss(label, path, utterances[-1]) for label, path in models.items()}
        print("\npeak RSS, fresh process, 2 threads, one call:",
              ", ".join(f"{k} {v:.0f} MiB" for k, v in results["rss_mib"].items()))
    if not args.no_peak:
        peak = int8_peak()
        results["int8_peak_gmac_s_per_core"] = peak
        print(f"\nint8 peak (u8 x s8 MatMulInteger 2048^3, 1 thread): {peak:.0f} GMAC/s per core")
        for n in threads:
            limit = GMAC_PER_AUDIO_S / (peak * n) * 1000
            print(f"distance to the physical limit at {n} thread(s): {GMAC_PER_AUDIO_S} GMAC per audio s / "
                  f"{peak * n:.0f} GMAC/s = {limit:.0f} ms per audio s; ours: "
                  + ", ".join(f"{label} {per_audio[label, n]:.0f} ms (x{per_audio[label, n] / limit:.0f})"
                              for label in models))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


def open_any(label: str, path: Path, threads: int):
    """An onnxruntime session, or the native generator's session for the native form."""
    if label == "native":
        from kokoro_server.engine.derived.recipes.native_generator import session

        return session(path, threads)
    return workload.open_session(path, threads)


def native_stages(folder: Path, utterance: workload.Utterance, runs: int = 3) -> dict[str, float]:
    """Share of the native generator's time: its three onnxruntime parts, the AdaIN + snake +
    quantize kernel, the convs, and the rest (transposes, the stage sums), 1 thread, in process
    CPU time (everything runs on the calling thread, so a busy machine does not skew it)."""

    from kokoro_server.engine.derived.recipes.native_generator import session as native_session

    session = native_session(folder, 1)
    totals: collections.Counter[str] = collections.Counter()

    def clocked(name, call):
        def wrapper(*args):
            start = time.process_time()
            value = call(*args)
            totals[name] += time.process_time() - start
            return value
        return wrapper

    class Clocked:
        def __init__(self, inner, name):
            self.inner, self.name, self.pad = inner, name, getattr(inner, "pad", 0)
            self.run = clocked(name, inner.run) if hasattr(inner, "run") else None

        def __call__(self, *args):
            return clocked(self.name, self.inner)(*args)

    for part in ("head", "middle", "tail"):
        setattr(session, part, Clocked(getattr(session, part), f"onnxruntime {part}"))
    native = session.native
    class Native:  # the kernels, the elementwise ones clocked
        adain_snake_quantize = staticmethod(clocked("adain+snake+quantize", native.adain_snake_quantize))
        channel_moments = staticmethod(clocked("block input moments", native.channel_moments))

    session.native = Native
    for block in session.blocks.values():
        block.convs1 = [Clocked(c, "int8 convs") for c in block.convs1]
        block.convs2 = [Clocked(c, "int8 convs") for c in block.convs2]
    workload.run_once(session, utterance)
    totals.clear()
    started = time.process_time()
    for _ in range(runs):
        workload.run_once(session, utterance)
    whole = time.process_time() - started
    shares = {name: value / whole for name, value in totals.most_common()}
    shares["rest (transposes, sums)"] = 1 - sum(shares.values())
    return shares


def op_shares(path: Path, utterance: workload.Utterance) -> dict[str, float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.gettempdir()) / "kokoro-variants-profile")
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    workload.run_once(session, utterance)
    profile = Path(session.end_profiling())
    totals: collections.Counter[str] = collections.Counter()
    for event in json.loads(profile.read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            totals[event["args"]["op_name"]] += event["dur"]
    profile.unlink()
    whole = sum(totals.values())
    return {op: t / whole for op, t in totals.most_common()}


RSS_SCRIPT = """
import sys, numpy as np, onnxruntime as ort
o = ort.SessionOptions(); o.intra_op_num_threads = 2; o.enable_mem_pattern = False
s = ort.InferenceSession(sys.argv[1], sess_options=o, providers=["CPUExecutionProvider"])
tokens = np.array([[0] + [int(t) for t in sys.argv[2].split(",")] + [0]], dtype=np.int64)
style = np.array([float(v) for v in sys.argv[3].split(",")], dtype=np.float32).reshape(1, -1)
s.run(None, {"tokens": tokens, "style": style, "speed": np.array([1.0], dtype=np.float32)})
print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024)
"""


NATIVE_RSS_SCRIPT = """
import sys, numpy as np
from pathlib import Path
from kokoro_server.engine.derived.recipes.native_generator import session
s = session(Path(sys.argv[1]), 2)
tokens = np.array([[0] + [int(t) for t in sys.argv[2].split(",")] + [0]], dtype=np.int64)
style = np.array([float(v) for v in sys.argv[3].split(",")], dtype=np.float32).reshape(1, -1)
s.run(None, {"tokens": tokens, "style": style, "speed": np.array([1.0], dtype=np.float32)})
print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024)
"""


def peak_rss(label: str, path: Path, utterance: workload.Utterance) -> float:
    script = NATIVE_RSS_SCRIPT if label == "native" else RSS_SCRIPT
    out = subprocess.run([sys.executable, "-c", script, str(path), ",".join(map(str, utterance.tokens)),
                          ",".join(f"{v:.9g}" for v in utterance.style.reshape(-1))],
                         capture_output=True, text=True, check=True).stdout
    return float(out.split()[-1])


def int8_peak(size: int = 2048, runs: int = 5) -> float:
    """GMAC/s of one thread on a large u8 x s8 MatMulInteger (AMX / VNNI where the CPU has them)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    b = numpy_helper.from_array(rng.integers(-128, 128, (size, size)).astype(np.int8), "b")
    graph = helper.make_graph([helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "peak",
                              [helper.make_tensor_value_info("a", TensorProto.UINT8, [size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, [size, size])], [b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])
    a = rng.integers(0, 256, (size, size)).astype(np.uint8)
    session.run(None, {"a": a})
    best = min(workload.timed(lambda: session.run(None, {"a": a}))[0] for _ in range(runs))
    return size ** 3 / best / 1e9


if __name__ == "__main__":
    sys.exit(main())
