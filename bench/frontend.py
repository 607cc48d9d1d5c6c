"""Text front end cost on hard input shapes: time to the first chunk and to all chunks, phonemizer
characters per input character (no model, no audio). Usage: python bench/frontend.py [--chars 100000]"""

from __future__ import annotations

import argparse
import time

import workload

SHAPES = {
    "digits": lambda n: "7" * n,
    "words, no punctuation": lambda n: " ".join(["seven"] * (n // 6)),
    "one sentence of clauses": lambda n: ", ".join(["a clause here"] * (n // 15)),
    "prose": lambda n: ("The tide came in at dusk, and the boats rocked gently. " * (n // 55 + 1))[:n],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chars", type=int, default=100_000)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    from kokoro_server.service import SpeechRequest, SpeechService
    from kokoro_server.settings import Settings

    service = SpeechService(Settings(data_dir=workload.data_dir(args.data_dir), max_input_chars=10 ** 7))
    list(service.chunks(service.prepare(SpeechRequest(text="Warm up.", voice="af_heart"))))
    for name, shape in SHAPES.items():
        text = shape(args.chars)
        start = time.perf_counter()
        prepared = service.prepare(SpeechRequest(text=text, voice="af_heart"))
        chunks = service.chunks(prepared)
        next(chunks)
        first = time.perf_counter() - start
        count = 1 + sum(1 for _ in chunks)
        total = time.perf_counter() - start
        print(f"{name:26s} {len(text):>8d} chars: first chunk {first * 1000:8.1f} ms, all {count:5d} chunks "
              f"{total:6.2f} s ({len(text) / total / 1000:.1f} k chars/s)")


if __name__ == "__main__":
    main()
