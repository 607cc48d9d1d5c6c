"""How far the int8 model's audio moves when one conv's output changes by one rounding step.

    python bench/sensitivity.py [--convs 6] [--tokens 32,96,192] [--epsilon 2.4e-7] [--json FILE]

A rewrite that is not bit-identical (a fused activation, another Sin, a reordered sum) changes some
floats by about one unit in the last place. This measures what that does to the speech, and why: it
multiplies the float output of one conv at a time by ``1 + epsilon`` (default 2^-22, i.e. about two
float32 ulps) and reports the log-mel distance (:func:`kokoro_server.engine.derived.quality.distance.log_mel_distance`)
and the largest sample difference against the unchanged model, on the same utterances, for

* ``int8``: the embedded model as it is (every conv quantizes its input dynamically, per call);
* ``float``: the same weights with every conv in float32 (``Conv`` with the dequantized weights,
  no activation quantization), perturbed the same way;

and the distance between the two unperturbed models (what dynamic int8 quantization of the
activations costs against float convs). If the int8 model moves by tenths of a dB where the float
one moves by hundredths, the int8 model amplifies rounding: each ``DynamicQuantizeLinear`` turns a
tiny change into whole int8 steps, which the following convs carry on. Durations are compared too
(sample counts; the perturbed convs are in the decoder, after the duration predictor).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

import workload


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--convs", type=int, default=6, help="how many convs to perturb, spread over the decoder")
    parser.add_argument("--tokens", default="32,96,192")
    parser.add_argument("--epsilon", type=float, default=2.0 ** -22)
    parser.add_argument("--voice", default="af_heart")
    parser.add_argument("--data-dir")
    parser.add_argument("--json")
    args = parser.parse_args()

    import onnx

    from kokoro_server.engine.derived.quality.distance import log_mel_distance
    from kokoro_server.engine.derived.quality.reference import float_reference
    from kokoro_server.engine.derived.int8_chains import find_chains

    root = workload.data_dir(args.data_dir)
    source = workload.model_path(root)
    utterances = workload.utterances(root, args.voice, [int(t) for t in args.tokens.split(",")])
    scratch = Path(tempfile.mkdtemp(prefix="kokoro-sensitivity-"))
    original = onnx.load(str(source))
    chains = find_chains(original, lambda name: name.startswith("/decoder/"))
    if not chains:
        print("no dynamically quantized decoder convs found in", source, file=sys.stderr)
        return 1
    picks = sorted({round(i * (len(chains) - 1) / max(1, args.convs - 1)) for i in range(args.convs)})
    float_model = float_reference(original, chains)

    def render(model: onnx.ModelProto, label: str) -> list[np.ndarray]:
        path = scratch / f"{label}.onnx"
        onnx.save(model, str(path))
        session = workload.open_session(path, 2)
        audio = [workload.run_once(session, u) for u in utterances]
        del session
        path.unlink()
        return audio

    def compare(a: list[np.ndarray], b: list[np.ndarray]) -> dict[str, float]:
        same_length = all(x.size == y.size for x, y in zip(a, b))
        return {"log_mel_db": statistics.mean(log_mel_distance(x, y) for x, y in zip(a, b)),
                "max_abs_diff": max(float(np.max(np.abs(x[:y.size] - y[:x.size]))) for x, y in zip(a, b)),
                "same_durations": same_length}

    reference = {"int8": render(original, "int8"), "float": render(float_model, "float")}
    rows, results = [], {"machine": workload.machine(), "epsilon": args.epsilon, "tokens": args.tokens,
                         "int8_vs_float": compare(reference["int8"], reference["float"]), "perturbed": []}
    for i in picks:
        name = chains[i].conv.name
        for label, base in (("int8", original), ("float", float_model)):
            got = compare(render(perturbed(base, chains[i].y, args.epsilon), f"{label}-{i}"), reference[label])
            results["perturbed"].append({"conv": name, "model": label, **got})
            rows.append([name, label, f"{got['log_mel_db']:.3f}", f"{got['max_abs_diff']:.3g}",
                         "yes" if got["same_durations"] else "NO"])
        print(f"perturbed {name}", file=sys.stderr)
    info = results["machine"]
    print(f"\none conv's output x (1 + {args.epsilon:.3g}) against the unchanged model, {len(utterances)} utterances "
          f"({args.tokens} tokens), voice {args.voice}; {info['cpu']}, onnxruntime {info['onnxruntime']}")
    workload.print_table(["conv", "model", "log-mel dB (mean)", "max |diff|", "same durations"], rows)
    for label in ("int8", "float"):
        values = [r["log_mel_db"] for r in results["perturbed"] if r["model"] == label]
        print(f"{label}: median {statistics.median(values):.3f} dB, range {min(values):.3f}-{max(values):.3f} dB")
    gap = results["int8_vs_float"]
    print(f"int8 model against float convs (same weights, no perturbation): {gap['log_mel_db']:.3f} dB, "
          f"same durations: {'yes' if gap['same_durations'] else 'no'}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


def perturbed(model, tensor: str, epsilon: float):
    """A copy of ``model`` whose ``tensor`` is multiplied by ``1 + epsilon`` before anything reads it."""
    import onnx
    from onnx import helper, numpy_helper

    result = onnx.ModelProto()
    result.CopyFrom(model)
    graph = result.graph
    raw = f"{tensor}/unperturbed"
    producer = next(i for i, node in enumerate(graph.node) if tensor in node.output)
    node = graph.node[producer]
    node.output[list(node.output).index(tensor)] = raw
    graph.initializer.append(numpy_helper.from_array(np.array(1.0 + epsilon, dtype=np.float32), f"{tensor}/factor"))
    graph.node.insert(producer + 1, helper.make_node("Mul", [raw, f"{tensor}/factor"], [tensor]))
    return result


if __name__ == "__main__":
    sys.exit(main())
