"""What word timestamps cost: the durations output of the ONNX graph and the word timing itself.

    python bench/timestamps.py [--runs 5] [--threads 0] [--voice af_heart]

The chunks the pipeline cuts from a ~200-word text are synthesized, run after run, by two ONNX
backends on the embedded int8 model: the model as shipped (audio only) and its durations variant
(the same graph with the durations as a second output, what the server runs), alternating which
goes first, call by call. Then the words of each chunk are timed from the variant's durations as the server does
(``StreamClock``) and that is timed too. Prints per run and the medians: engine seconds of each
model, their ratio, and the word timing's share of the synthesis time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import workload
from workload import TEXT_200_WORDS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--voice", default="af_heart")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--data-dir", help="data dir (default: a temp dir with ../shared/assets voices)")
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()

    from kokoro_server.builds.base import MAX_TOKENS
    from kokoro_server.engine.onnx_runtime import ModelFile, OnnxBackend, durations_in_memory
    from kokoro_server.service import AudioChunk
    from kokoro_server.timestamps import StreamClock

    root = workload.data_dir(args.data_dir)
    source = workload.model_path(root)
    data, problem = durations_in_memory(source)
    assert data is not None, problem
    service, prepared = workload.prepare(root, args.voice, TEXT_200_WORDS)
    chunks = list(service.chunks(prepared))
    calls = [workload.utterance(prepared, c.text, c.tokens) for c in chunks]
    backends = {"as shipped": OnnxBackend(source, threads=args.threads),
                "durations variant": OnnxBackend(ModelFile(source, data), threads=args.threads)}
    for backend in backends.values():  # warm-up
        backend.synthesize(calls[0].tokens, calls[0].style, 1.0)

    results = []
    for run in range(args.runs):
        seconds = dict.fromkeys(backends, 0.0)
        outputs = []
        for i, call in enumerate(calls):  # interleaved call by call: the shared machine drifts by 30% in a minute
            order = list(backends) if (run + i) % 2 == 0 else list(reversed(backends))
            for name in order:
                elapsed, output = workload.timed(lambda: backends[name].synthesize(call.tokens[:MAX_TOKENS],
                                                                                   call.style, 1.0))
                seconds[name] += elapsed
                if name == "durations variant":
                    outputs.append(output)
        clock = StreamClock()
        start = time.perf_counter()
        words = sum(len(clock.words(AudioChunk(o.audio, c, o.durations)) or ()) for o, c in zip(outputs, chunks))
        timing = time.perf_counter() - start
        ratio = seconds["durations variant"] / seconds["as shipped"]
        share = timing / seconds["durations variant"]
        results.append({"run": run, **{f"{k}_s": v for k, v in seconds.items()}, "variant_ratio": ratio,
                        "word_timing_s": timing, "word_timing_share": share, "words": words})
        print(f"run {run}: {len(calls)} chunks; as shipped {seconds['as shipped']:.2f} s, durations variant "
              f"{seconds['durations variant']:.2f} s (x{ratio:.3f}); timing {words} words {timing * 1000:.2f} ms "
              f"({share:.4%} of the synthesis)")
    ratio = workload.median([r["variant_ratio"] for r in results])
    share = workload.median([r["word_timing_share"] for r in results])
    print(f"median: durations variant / as shipped x{ratio:.3f}; word timing {share:.4%} of the synthesis; "
          f"timestamps add {(ratio - 1 + share):+.2%} (target < 2%)")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": results, "machine": workload.machine()}, indent=2))
    for backend in backends.values():
        backend.close()
    service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
