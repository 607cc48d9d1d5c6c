"""Concurrent callers on the engine: session pool layouts compared side by side.

    python bench/concurrency.py [--layouts 1x2,2x1] [--callers 1,2,4] [--requests 4] [--runs 3]
                                [--json bench/results/concurrency.json]

A layout ``SxT`` is ``OnnxBackend(sessions=S, threads=T)`` (what ``KOKORO_SESSIONS`` and
``KOKORO_THREADS`` set); ``SxT+W`` adds the wide session of W threads for a lone stream (the
automatic layout with ``KOKORO_CONCURRENCY`` > 1, e.g. ``2x1+2`` on 2 cores). ``--callers`` threads share ``--requests`` requests; a request is the first
``--chunks`` chunks of a 200-word text as the pipeline cuts them (a short first chunk, then whole
sentences), synthesized in order as a stream would. Layouts alternate within each run. Reported:
throughput (audio seconds per wall second, median over runs), and per request the time to its
first chunk and to its end (p50 and p95 over all runs).
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
from pathlib import Path

import numpy as np

import workload

SAMPLE_RATE = 24_000


def measure(backend, requests: list[list[workload.Utterance]], callers: int) -> dict[str, object]:
    pending: queue.SimpleQueue[list[workload.Utterance]] = queue.SimpleQueue()
    for request in requests:
        pending.put(request)
    firsts, totals, samples = [], [], []
    lock = threading.Lock()

    def caller() -> None:
        while True:
            try:
                request = pending.get_nowait()
            except queue.Empty:
                return
            start = time.perf_counter()
            first, produced = None, 0
            with backend.streaming():
                for utterance in request:
                    produced += backend.synthesize(utterance.tokens, utterance.style, 1.0).audio.size
                    first = first if first is not None else time.perf_counter() - start
            with lock:
                firsts.append(first)
                totals.append(time.perf_counter() - start)
                samples.append(produced)

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    return {"wall_s": wall, "audio_s": sum(samples) / SAMPLE_RATE, "audio_s_per_s": sum(samples) / SAMPLE_RATE / wall,
            "first_chunk_s": firsts, "request_s": totals}


def open_layout(backend_class, model: Path, layout: str):
    narrow, _, wide = layout.partition("+")
    sessions, threads = (int(x) for x in narrow.split("x"))
    return backend_class(model, sessions=sessions, threads=threads, wide_threads=int(wide or 0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layouts", default="1x2,2x1,2x1+2",
                        help="comma-separated SESSIONSxTHREADS[+WIDE_THREADS]")
    parser.add_argument("--callers", default="1,2,4")
    parser.add_argument("--requests", type=int, default=4, help="requests per measurement")
    parser.add_argument("--chunks", type=int, default=2, help="chunks per request")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", help="model file (default: the embedded int8 model in the data dir)")
    parser.add_argument("--voice", default="af_heart")
    parser.add_argument("--data-dir", help="data dir (default: a temp dir with ../shared/assets voices)")
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()

    from kokoro_server.engine.onnx_runtime import OnnxBackend

    root = workload.data_dir(args.data_dir)
    model = Path(args.model) if args.model else workload.model_path(root)
    request = workload.chunks(root, args.voice)[:args.chunks]
    requests = [request] * args.requests
    layouts = args.layouts.split(",")
    callers = [int(c) for c in args.callers.split(",")]
    backends = {layout: open_layout(OnnxBackend, model, layout) for layout in layouts}
    for backend in backends.values():  # warm-up
        measure(backend, [request], 1)
    results: dict[tuple[str, int], list[dict[str, object]]] = {(l, c): [] for l in layouts for c in callers}
    for run in range(args.runs):
        for c in callers:
            for layout, backend in backends.items():
                results[(layout, c)].append(measure(backend, requests, c))
        print(f"run {run + 1}/{args.runs} done, load {workload.machine()['load']}", file=sys.stderr)

    info = workload.machine()
    rows, summary = [], []
    for (layout, c), measured in results.items():
        firsts = [x for m in measured for x in m["first_chunk_s"]]
        totals = [x for m in measured for x in m["request_s"]]
        row = {"layout": layout, "callers": c,
               "audio_s_per_s": workload.median([m["audio_s_per_s"] for m in measured]),
               "first_chunk_p50_s": float(np.percentile(firsts, 50)), "first_chunk_p95_s": float(np.percentile(firsts, 95)),
               "request_p50_s": float(np.percentile(totals, 50)), "request_p95_s": float(np.percentile(totals, 95)),
               "runs": measured}
        summary.append(row)
        rows.append([layout, c, row["audio_s_per_s"], row["first_chunk_p50_s"], row["first_chunk_p95_s"],
                     row["request_p50_s"], row["request_p95_s"]])
    tokens = [len(u.tokens) for u in request]
    print(f"\nengine throughput, {args.requests} requests of {tokens} tokens ({measured[0]['audio_s'] / args.requests:.1f} s "
          f"of audio each), median of {args.runs} runs; {info['cpu']}, {info['cores']} cores, load {info['load']}, "
          f"onnxruntime {info['onnxruntime']}, {info['date']}")
    workload.print_table(["sessions x threads", "callers", "audio-s/s", "first p50 s", "first p95 s", "request p50 s",
                          "request p95 s"], rows)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": info, "request_tokens": tokens, "results": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
