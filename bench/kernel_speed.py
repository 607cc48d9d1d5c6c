"""Native vocoder kernels against the onnxruntime nodes they replace, interleaved, one thread.

    python bench/kernel_speed.py [--seconds 2] [--repeats 7] [--json FILE]

For a tensor of the generator's second stage (128 channels x 4,800 frames per audio second,
default 2 s of audio) and of its first stage (256 channels x 800 per second):

* snake: onnxruntime's ``Mul, Sin, Pow, Mul, Add`` (as in the export) against ``snake_rows``;
* AdaIN + snake + quantize: the export's ~20 nodes (``ReduceMean, Sub, Mul, ReduceMean, Add, Sqrt,
  Div, Mul, Add``, the snake, ``DynamicQuantizeLinear``) against ``adain_snake_quantize``;
* conv (kernel 11, dilation 5; kernel 3, dilation 1): the export's ``ConvInteger`` chain, the
  lossless rewrite's ``MatMulInteger`` (u8 x s8 GEMM), and ``kokoro_native.Conv``, with GMAC/s;

each the best of ``--repeats`` runs, the candidates run one after another in every repeat. Also
the results' agreement (max |difference|) with the onnxruntime nodes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import workload


def session(model):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])


def graph(nodes, inputs, outputs, initializers):
    from onnx import TensorProto, helper

    g = helper.make_graph(nodes, "bench", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                          [helper.make_tensor_value_info(n, t, None) for n, t in outputs], initializers)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    return model


def snake_nodes(x: str, a: str, ia: str, out: str, p: str):
    from onnx import helper

    return [helper.make_node("Mul", [a, x], [f"{p}m"]), helper.make_node("Sin", [f"{p}m"], [f"{p}s"]),
            helper.make_node("Pow", [f"{p}s", "two"], [f"{p}p"]), helper.make_node("Mul", [ia, f"{p}p"], [f"{p}q"]),
            helper.make_node("Add", [x, f"{p}q"], [out])]


def adain_nodes(x: str, out: str):
    from onnx import helper

    return [helper.make_node("ReduceMean", [x, "axes"], ["mean"], keepdims=1), helper.make_node("Sub", [x, "mean"], ["d"]),
            helper.make_node("Mul", ["d", "d"], ["d2"]), helper.make_node("ReduceMean", ["d2", "axes"], ["var"], keepdims=1),
            helper.make_node("Add", ["var", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["sd"]),
            helper.make_node("Div", ["d", "sd"], ["n"]), helper.make_node("Mul", ["gain", "n"], ["g"]),
            helper.make_node("Add", ["g", "beta"], ["h"]), *snake_nodes("h", "alpha", "ialpha", "y", "s"),
            helper.make_node("DynamicQuantizeLinear", ["y"], [out, "scale", "zero"])]


def best(call, repeats: int) -> float:
    call()
    return min(workload.timed(call)[0] for _ in range(repeats))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json")
    args = parser.parse_args()

    import kokoro_native as kn
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    rows, results = [], {"machine": workload.machine(), "isa": kn.isa(), "kernels": []}

    def record(name, shape, ort_s, native_s, diff, extra=""):
        results["kernels"].append({"kernel": name, "shape": shape, "ort_ms": ort_s * 1e3, "native_ms": native_s * 1e3,
                                   "speedup": ort_s / native_s, "max_abs_diff": diff, "note": extra})
        rows.append([name, shape, f"{ort_s * 1e3:.2f}", f"{native_s * 1e3:.2f}", f"{ort_s / native_s:.1f}x", f"{diff:.2g}", extra])

    for channels, rate in ((128, 4800), (256, 800)):
        frames = int(rate * args.seconds)
        shape = f"{channels}x{frames}"
        x = (rng.standard_normal((1, channels, frames)) * 2).astype(np.float32)
        alpha = rng.uniform(0.2, 2.0, channels).astype(np.float32)
        ialpha = (np.float32(1) / alpha).astype(np.float32)
        a3, ia3 = alpha.reshape(1, -1, 1), ialpha.reshape(1, -1, 1)
        two = numpy_helper.from_array(np.array(2.0, np.float32), "two")

        # snake
        s = session(graph(snake_nodes("x", "alpha", "ialpha", "y", "s"), [("x", [1, channels, frames])],
                          [("y", TensorProto.FLOAT)], [two, numpy_helper.from_array(a3, "alpha"),
                                                       numpy_helper.from_array(ia3, "ialpha")]))
        x2 = x[0]
        ort_y = s.run(None, {"x": x})[0][0]
        nat_y = kn.snake_rows(x2, alpha)
        t_ort = best(lambda: s.run(None, {"x": x}), args.repeats)
        t_nat = best(lambda: kn.snake_rows(x2, alpha), args.repeats)
        record("snake", shape, t_ort, t_nat, float(np.max(np.abs(ort_y - nat_y))))

        # AdaIN + snake + quantize (native works time-major: the transpose is not timed, it is
        # done once per stage in the generator)
        gain = rng.uniform(0.5, 1.5, channels).astype(np.float32)
        beta = (rng.standard_normal(channels) * 0.1).astype(np.float32)
        inits = [two, numpy_helper.from_array(a3, "alpha"), numpy_helper.from_array(ia3, "ialpha"),
                 numpy_helper.from_array(gain.reshape(1, -1, 1), "gain"), numpy_helper.from_array(beta.reshape(1, -1, 1), "beta"),
                 numpy_helper.from_array(np.array([2], np.int64), "axes"), numpy_helper.from_array(np.array(1e-5, np.float32), "eps")]
        s = session(graph(adain_nodes("x", "q"), [("x", [1, channels, frames])],
                          [("q", TensorProto.UINT8), ("scale", TensorProto.FLOAT), ("zero", TensorProto.UINT8)], inits))
        xt = np.ascontiguousarray(x[0].T)
        ort_q, ort_scale, ort_zero = s.run(None, {"x": x})
        nat_q, _, nat_scale, nat_zero = kn.adain_snake_quantize(xt, gain, beta, alpha, ialpha, 1e-5, 0, 0)
        t_ort = best(lambda: s.run(None, {"x": x}), args.repeats)
        t_nat = best(lambda: kn.adain_snake_quantize(xt, gain, beta, alpha, ialpha, 1e-5, 0, 0), args.repeats)
        steps = np.abs(ort_q[0].T.astype(int) - nat_q.astype(int))
        record("adain+snake+quantize", shape, t_ort, t_nat, float(steps.max()),
               f"{np.mean(steps > 0) * 100:.3f}% of values 1 step apart; scale {ort_scale:.6g} vs {nat_scale:.6g}")

        # convs
        for kernel, dilation in ((11, 5), (3, 1)):
            pad = (kernel - 1) * dilation // 2
            w = rng.integers(0, 256, (channels, channels, kernel)).astype(np.uint8)
            wz, ws = np.uint8(128), np.float32(0.004)
            bias = (rng.standard_normal(channels) * 0.1).astype(np.float32)
            q = rng.integers(0, 256, (1, channels, frames)).astype(np.uint8)
            xz = np.uint8(120)
            conv_node = helper.make_node("ConvInteger", ["q", "w", "xz", "wz"], ["acc"], dilations=[dilation],
                                         pads=[pad, pad], kernel_shape=[kernel])
            model = graph([conv_node], [], [("acc", TensorProto.INT32)],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array(wz), "wz")])
            model.graph.input.extend([helper.make_tensor_value_info("q", TensorProto.UINT8, [1, channels, frames]),
                                      helper.make_tensor_value_info("xz", TensorProto.UINT8, [])])
            ci = session(model)
            from kokoro_server.engine.derived.recipes.lossless_int8_gemm import rewrite

            lossless_model = build_lossless(channels, frames, kernel, dilation, pad, w, wz)
            rewritten = session(rewrite(lossless_model).model)
            xf = ((q.astype(np.float32) - xz) * np.float32(0.01))
            qt = np.ascontiguousarray(np.pad(q[0].T, ((pad, pad), (0, 0)), constant_values=xz))
            rowsum = qt.astype(np.int32).sum(axis=1).astype(np.int32)
            conv = kn.Conv(w, int(wz), float(ws), bias, dilation, pad)
            macs = channels * channels * kernel * frames
            t_ci = best(lambda: ci.run(None, {"q": q, "xz": np.array(xz)}), args.repeats)
            t_ll = best(lambda: rewritten.run(None, {"x": xf}), args.repeats)
            t_nat = best(lambda: conv(qt, rowsum, int(xz), 0.01, None, 1), args.repeats)
            acc = ci.run(None, {"q": q, "xz": np.array(xz)})[0][0].T.astype(np.int64)
            bs = np.float32(0.01) * ws
            expected = (acc + np.floor(bias / bs).astype(np.int64)).astype(np.float32) * bs
            diff = float(np.max(np.abs(conv(qt, rowsum, int(xz), 0.01, None, 1) - expected)))
            name = f"conv k{kernel} d{dilation}"
            record(name + " vs ConvInteger", shape, t_ci, t_nat, diff,
                   f"native {macs / t_nat / 1e9:.0f} GMAC/s, ConvInteger {macs / t_ci / 1e9:.0f}")
            record(name + " vs lossless GEMM", shape, t_ll, t_nat, diff,
                   f"lossless (DQL + im2col + MatMulInteger) {macs / t_ll / 1e9:.0f} GMAC/s")
        print(f"{channels} channels done", file=sys.stderr)
    info = results["machine"]
    print(f"\nkernels, best of {args.repeats}, 1 thread, {args.seconds:g} s of audio; {info['cpu']}, native path "
          f"{results['isa']}, load {info['load']}, onnxruntime {info['onnxruntime']}")
    workload.print_table(["kernel", "shape", "onnxruntime ms", "native ms", "speed-up", "max |diff|", "note"], rows)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


def build_lossless(channels, frames, kernel, dilation, pad, w, wz):
    """The export's dynamically quantized conv chain on a float input (for the lossless rewrite)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("ConvInteger", ["xq", "w", "xz", "wz"], ["acc"], dilations=[dilation], pads=[pad, pad],
                              kernel_shape=[kernel], name="conv"),
             helper.make_node("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["accf", "xs"], ["y"])]
    model = graph(nodes, [("x", [1, channels, frames])], [("y", TensorProto.FLOAT)],
                  [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array(wz), "wz")])
    return model


if __name__ == "__main__":
    sys.exit(main())
