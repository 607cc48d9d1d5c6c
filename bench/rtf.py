"""Real-time factor of the core pipeline for a ~200-word English text (CLI-level, no HTTP).

    python bench/rtf.py [--runs 3] [--voice af_heart] [--threads 0]

Prints, per run: synthesis wall time, audio seconds, RTF (= wall / audio; below 1 is faster than
real time), and the same for the bare engine on the same chunks (phonemes prepared beforehand),
so front-end and chunking overhead shows as a ratio measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import workload
from workload import TEXT_200_WORDS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--voice", default="af_heart")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--data-dir", help="data dir (default: a temp dir with ../shared/assets voices)")
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()

    from kokoro_server import SAMPLE_RATE
    from kokoro_server.builds.base import MAX_TOKENS
    from kokoro_server.service import SpeechRequest, SpeechService
    from kokoro_server.settings import Settings

    data_dir = workload.data_dir(args.data_dir)
    service = SpeechService(Settings(data_dir=data_dir, threads=args.threads))
    request = SpeechRequest(text=TEXT_200_WORDS, voice=args.voice)
    words = len(TEXT_200_WORDS.split())
    prepared = service.prepare(request)
    model = service.models.get("v1_0")
    chunks = list(service.chunks(prepared))
    list(service.stream(prepared))  # warm-up (loads the model, the G2P and caches)

    results = []
    for run in range(args.runs):
        start = time.perf_counter()
        samples = sum(piece.audio.size for piece in service.stream(service.prepare(request)))
        wall = time.perf_counter() - start
        start = time.perf_counter()
        bare_samples = 0
        for chunk in chunks:
            tokens = chunk.tokens[:MAX_TOKENS]
            bare_samples += model.backend.synthesize(tokens, prepared.pack[len(tokens) - 1], 1.0).audio.size
        bare = time.perf_counter() - start
        audio_s = samples / SAMPLE_RATE
        results.append({"run": run, "wall_s": wall, "audio_s": audio_s, "rtf": wall / audio_s,
                        "bare_engine_s": bare, "bare_rtf": bare / (bare_samples / SAMPLE_RATE),
                        "overhead_ratio": wall / bare})
        print(f"run {run}: {words} words, {len(chunks)} chunks, audio {audio_s:.1f} s, pipeline {wall:.2f} s "
              f"(RTF {wall / audio_s:.3f}), bare engine {bare:.2f} s (RTF {bare / (bare_samples / SAMPLE_RATE):.3f}), "
              f"pipeline/bare {wall / bare:.3f}")
    summary = {key: statistics.median(r[key] for r in results) for key in ("wall_s", "audio_s", "rtf", "bare_rtf", "overhead_ratio")}
    print(f"median: RTF {summary['rtf']:.3f} (bare engine {summary['bare_rtf']:.3f}), "
          f"pipeline/bare {summary['overhead_ratio']:.3f}; backend: {model.backend.description}")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": results, "median": summary}, indent=2))
    service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
