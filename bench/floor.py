"""The floor: the bare ONNX Runtime session on fixed texts, phonemes prepared beforehand.

    python bench/floor.py [--runs 5] [--threads 1,2] [--tokens 16,32,64,128,256]
                          [--model LABEL=PATH ...] [--json bench/results/floor.json]

For each (model, threads) configuration it times one ``session.run`` per utterance (prefixes of a
200-word text of about 16..256 phoneme tokens), interleaving configurations run by run so machine
noise hits them alike, and reports medians: the fixed cost per call and the cost per token (a
least-squares line through the per-length medians), and the real-time factor RTF (compute seconds per
audio second; below 1 is faster than real time) over the whole set. ``--model`` compares other
files of the same model (e.g. the optimized one from ``kokoro-server optimize``) side by side.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


import workload

SAMPLE_RATE = 24_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", default="1,2", help="comma-separated intra-op thread counts")
    parser.add_argument("--tokens", default="16,32,64,128,256", help="utterance sizes in phoneme tokens")
    parser.add_argument("--model", action="append", default=[],
                        help="LABEL=PATH of a model file to compare (default: the embedded int8 model)")
    parser.add_argument("--voice", default="af_heart")
    parser.add_argument("--data-dir", help="data dir (default: a temp dir with ../shared/assets voices)")
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()

    root = workload.data_dir(args.data_dir)
    models = dict(item.split("=", 1) for item in args.model) or {"int8": str(workload.model_path(root))}
    threads = [int(t) for t in args.threads.split(",")]
    utterances = workload.utterances(root, args.voice, [int(t) for t in args.tokens.split(",")])
    configs = [(label, n) for label in models for n in threads]
    sessions = {}
    for label, n in configs:
        seconds, sessions[label, n] = workload.timed(lambda: workload.open_session(Path(models[label]), n))
        print(f"session {label} x{n} threads: created in {seconds:.2f} s", file=sys.stderr)
    audio_s = {}
    for (label, n), session in sessions.items():  # warm-up; also records each utterance's audio length
        for u in utterances:
            audio_s[label, n, len(u.tokens)] = workload.run_once(session, u).size / SAMPLE_RATE
    times: dict[tuple[str, int, int], list[float]] = {key: [] for key in audio_s}
    for run in range(args.runs):
        for u in utterances:
            for label, n in configs:
                seconds, _ = workload.timed(lambda: workload.run_once(sessions[label, n], u))
                times[label, n, len(u.tokens)].append(seconds)
        print(f"run {run + 1}/{args.runs} done, load {workload.machine()['load']}", file=sys.stderr)

    rows, results = [], []
    for label, n in configs:
        sizes = [len(u.tokens) for u in utterances]
        medians = [workload.median(times[label, n, k]) for k in sizes]
        audio = [audio_s[label, n, k] for k in sizes]
        fixed, per_token = workload.linear_fit(sizes, medians)
        rtf = sum(medians) / sum(audio)
        per_audio_s = workload.linear_fit(audio, medians)[1]
        results.append({"model": label, "threads": n, "fixed_ms": fixed * 1000, "per_token_ms": per_token * 1000,
                        "per_audio_second_ms": per_audio_s * 1000, "rtf": rtf, "audio_s_per_s": 1 / rtf,
                        "utterances": [{"tokens": k, "audio_s": a, "median_s": m, "all_s": times[label, n, k]}
                                       for k, a, m in zip(sizes, audio, medians)]})
        rows.append([label, n, f"{fixed * 1000:.0f}", f"{per_token * 1000:.1f}", f"{per_audio_s * 1000:.0f}",
                     rtf, 1 / rtf] + [f"{m:.2f}" for m in medians])
    info = workload.machine()
    print(f"\nfloor: bare onnxruntime session, median of {args.runs} runs; {info['cpu']}, {info['cores']} cores, "
          f"load {info['load']}, onnxruntime {info['onnxruntime']}, {info['date']}")
    workload.print_table(["model", "threads", "fixed ms", "ms/token", "ms/audio-s", "RTF", "audio-s/s"]
                         + [f"{len(u.tokens)} tok s" for u in utterances], rows)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": info, "runs": args.runs, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
