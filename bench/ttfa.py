"""Time to first audio and total time of ``POST /v1/audio/speech`` (streamed), next to the bare engine.

    python bench/ttfa.py [--runs 3] [--long-runs 1] [--threads 0] [--data-dir DIR] [--json out.json]

Starts ``kokoro-server serve`` in a subprocess (the default v1.0 model preloaded), then for a 60-word
and a 600-word English text and the formats mp3 and pcm streams the speech with httpx and records
the time from sending the request to the first audio byte, and to the last. Interleaved with those
runs, the bare engine in this process synthesizes the same chunks (phonemes and tokens prepared
beforehand): its first chunk and its total are the floor the server is compared with, under the
same machine load. Prints one row per text and format (medians over the runs).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PARAGRAPHS = [
    "Every town has a street that people walk along without thinking, and ours was Mill Lane. It ran "
    "from the station to the river, past a bakery, two pubs and a bookshop with a crooked sign. On "
    "market days the lane filled with stalls, and the smell of oranges and fresh bread drifted all the "
    "way to the water.",
    "The bookshop belonged to a tall, quiet man named Arthur, who had opened it after thirty years as a "
    "ship's engineer. He kept maps of every ocean behind the counter and would unroll them for anyone "
    "who asked. Children came in to trace the routes of old voyages with their fingers, while their "
    "parents browsed the shelves of secondhand novels.",
    "One winter the river froze for the first time in living memory. Nobody trusted the ice at first, "
    "so people gathered on the bank and argued about how thick it was. Arthur fetched a drill from his "
    "workshop, walked out a few careful steps and measured it. Ten centimetres, he announced, enough for "
    "skating but not for cars.",
    "By the afternoon half the town was on the river. Someone brought a gramophone, someone else brought "
    "a pot of soup, and the baker sold hot rolls from a basket. The light faded early, as it does in "
    "January, and lanterns appeared along the bank like a string of small moons.",
    "The council met the following week to discuss whether the ice fair should become a tradition. The "
    "mayor worried about accidents and insurance. The baker pointed out that he had sold more rolls in "
    "one afternoon than in the whole of December. In the end they agreed to hold it whenever the river "
    "froze, which might be never again.",
    "Spring came late that year. The ice broke up in long grey plates that drifted slowly towards the "
    "sea, and the ducks returned one by one. Arthur rolled up his maps, repainted the crooked sign and "
    "put a photograph of the frozen river in the window, between a guide to Norway and a book of "
    "sailing knots.",
    "Visitors sometimes asked about the photograph. He told them the story patiently, adding a detail "
    "each time, until the soup had become a feast and the gramophone a full brass band. Nobody minded. "
    "A town needs a few stories that grow a little with every telling, and this one was theirs.",
    "Years later, when the bookshop changed hands, the new owner found a box of letters in the cellar. "
    "They were from sailors Arthur had worked with, written from ports all over the world. Most were "
    "short and cheerful, full of weather reports and complaints about food. A few were long, careful "
    "and sad.",
    "She read them all during one rainy weekend and then did something Arthur would have liked. She "
    "pinned a map to the wall, marked every port with a small red flag, and invited the town to come and "
    "read the letters aloud. The evening ran far past closing time, and the tea ran out twice.",
    "The river has not frozen since. The lanterns are kept in a cupboard at the town hall, just in case, "
    "and every January someone walks down to the bank to look at the water. It is usually grey and "
    "moving quickly. Still, people say, you never know, and they keep the soup recipe safe.",
    "As for Mill Lane, it has hardly changed. The bakery still opens before dawn, the pubs still argue "
    "about football, and the bookshop sign is crooked again, because the new owner thinks it looks "
    "friendlier that way. On market days the oranges are still piled high, and if the wind is right you "
    "can smell the bread from the river, just as you always could.",
]


def text_of(words: int) -> str:
    """The first ``words`` words of the story, ended with a full stop."""
    text = " ".join(" ".join(PARAGRAPHS).split()[:words])
    return text if text.endswith(".") else text.rstrip(",;:") + "."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def default_data_dir() -> Path:
    root = Path(tempfile.mkdtemp(prefix="kokoro-bench-"))
    assets = Path(__file__).resolve().parents[2] / "shared" / "assets"
    (root / "voices").mkdir(parents=True)
    (root / "voices" / "v1_0").symlink_to(assets / "voices" / "v1_0")
    return root


def start_server(data_dir: Path, threads: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "KOKORO_PRELOAD": "v1_0", "KOKORO_THREADS": str(threads)}
    process = subprocess.Popen([sys.executable, "-m", "kokoro_server.cli", "--data-dir", str(data_dir), "serve",
                                "--port", str(port), "--log-level", "warning"], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/ready", timeout=5).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise SystemExit("the server did not become ready")


def measure_server(url: str, text: str, fmt: str) -> dict[str, float]:
    body = {"model": "kokoro", "input": text, "voice": "af_heart", "response_format": fmt}
    start = time.perf_counter()
    first = None
    size = 0
    with httpx.stream("POST", url + "/v1/audio/speech", json=body, timeout=1200) as response:
        response.raise_for_status()
        for data in response.iter_raw():
            if data and first is None:
                first = time.perf_counter() - start
            size += len(data)
    total = time.perf_counter() - start
    return {"ttfa_s": first or total, "total_s": total, "bytes": size}


class BareEngine:
    """The model alone, in this process, on chunks whose phonemes and tokens are prepared beforehand."""

    def __init__(self, data_dir: Path, threads: int) -> None:
        from kokoro_server.service import SpeechService
        from kokoro_server.settings import Settings

        self.service = SpeechService(Settings(data_dir=data_dir, threads=threads))

    def chunks(self, text: str) -> list[tuple[list[int], object]]:
        """(tokens, style vector) per chunk, as the service would synthesize them."""
        from kokoro_server.builds.base import MAX_TOKENS
        from kokoro_server.service import SpeechRequest
        from kokoro_server.text.chunk import Chunker, split_sentences

        prepared = self.service.prepare(SpeechRequest(text=text, voice="af_heart"))
        chunker = Chunker(self.service.phonemizer(prepared), prepared.build.tokenize, prepared.chunk_plan)
        chunks = []
        for chunk in chunker.chunks(split_sentences(prepared.text)):
            tokens = chunk.tokens[:MAX_TOKENS]
            chunks.append((tokens, prepared.pack[prepared.build.style_row(len(tokens))]))
        return chunks

    def run(self, chunks: list[tuple[list[int], object]]) -> dict[str, float]:
        from kokoro_server import SAMPLE_RATE

        backend = self.service.models.get("v1_0").backend
        start = time.perf_counter()
        first, samples = None, 0
        for tokens, style in chunks:
            samples += backend.synthesize(tokens, style, 1.0).audio.size  # type: ignore[arg-type]
            first = first or time.perf_counter() - start
        return {"engine_first_s": first or 0.0, "engine_total_s": time.perf_counter() - start,
                "audio_s": samples / SAMPLE_RATE}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs of the 60-word text")
    parser.add_argument("--long-runs", type=int, default=1, help="runs of the 600-word text")
    parser.add_argument("--threads", type=int, default=0, help="KOKORO_THREADS (0 = all cores)")
    parser.add_argument("--data-dir", help="data dir (default: a temp dir with ../shared/assets voices)")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    formats = ("mp3", "pcm")

    engine = BareEngine(data_dir, args.threads)
    process, url = start_server(data_dir, args.threads)
    rows = []
    try:
        measure_server(url, "Warming up.", "mp3")
        for words, runs in ((60, args.runs), (600, args.long_runs)):
            text = text_of(words)
            chunks = engine.chunks(text)
            engine.run(chunks[:1])  # warm-up
            served: dict[str, list[dict[str, float]]] = {fmt: [] for fmt in formats}
            bare = []
            for _ in range(runs):  # interleaved, so that both see the same machine load
                for fmt in formats:
                    served[fmt].append(measure_server(url, text, fmt))
                bare.append(engine.run(chunks))
            for fmt in formats:
                rows.append({"words": words, "format": fmt, "runs": runs, "chunks": len(chunks),
                             "audio_s": bare[0]["audio_s"],
                             **{key: statistics.median(r[key] for r in served[fmt]) for key in ("ttfa_s", "total_s")},
                             **{key: statistics.median(r[key] for r in bare)
                                for key in ("engine_first_s", "engine_total_s")}})
    finally:
        process.terminate()
        process.wait(timeout=60)

    print(f"{'words':>5} {'fmt':>4} {'chunks':>6} {'audio s':>8} {'TTFA s':>7} {'total s':>8} "
          f"{'engine 1st s':>12} {'engine total s':>14} {'total/engine':>12}")
    for r in rows:
        print(f"{r['words']:>5} {r['format']:>4} {r['chunks']:>6} {r['audio_s']:>8.1f} {r['ttfa_s']:>7.2f} "
              f"{r['total_s']:>8.2f} {r['engine_first_s']:>12.2f} {r['engine_total_s']:>14.2f} "
              f"{r['total_s'] / r['engine_total_s']:>12.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
