"""A voice agent's answer streamed in word by word, against the same text sent whole.

    python bench/agent_stream.py [--runs 5] [--words-ms 30,50] [--format pcm_24000] [--json PATH]

An LLM-like sender pushes a 60-word answer to ``/v1/text-to-speech/{voice}/stream-input`` one word
every 30-50 ms (seeded), then ends the input; the same text also goes whole to ``/v1/audio/speech``
(streamed pcm), and the bare ONNX session (the floor, bench/harness.py) synthesizes the pipeline's
first chunk of it. Runs are interleaved (stream, whole, floor) so machine noise hits them alike.
Reported (medians):

- ``phrase->audio``: from the moment the first phrase's last word was sent to the first audio;
  target: at most the floor's first-chunk time + 150 ms;
- ``tail``: from the last word sent to the last audio; target: at most the synthesis of the last
  chunk (the floor's time for the text of the last audio answer, read from its alignment);
- the whole request's first audio and total, and when an agent that waits for the whole answer
  before sending it would hear its first audio (last word + the whole request's first audio).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path

import harness
import workload

ANSWER = ("Sure, I can help with that. The quickest way to get to the museum is to take the number twelve bus "
          "from the main square, which leaves every ten minutes. It stops right outside the entrance, so you "
          "will not need to walk far. Tickets cost about three dollars, and you can pay by card on board. "
          "Would you like me to check the opening hours too?")
FIRST_PHRASE = "Sure,"


async def stream_answer(url: str, words: list[str], delays: list[float], fmt: str) -> dict[str, float]:
    import websockets

    socket_url = (url.replace("http://", "ws://") + f"/v1/text-to-speech/{harness.VOICE}/stream-input"
                  f"?output_format={fmt}")
    phrase_words = len(FIRST_PHRASE.split())
    times: dict[str, float] = {}
    last_text = ""
    async with websockets.connect(socket_url, max_size=None) as socket:
        await socket.send(json.dumps({"text": " "}))
        start = time.perf_counter()

        async def send() -> None:
            for k, (word, delay) in enumerate(zip(words, delays, strict=True)):
                await asyncio.sleep(delay)
                await socket.send(json.dumps({"text": word + " "}))
                if k + 1 == phrase_words:
                    times["phrase_sent"] = time.perf_counter() - start
            times["last_word_sent"] = time.perf_counter() - start
            await socket.send(json.dumps({"text": ""}))

        sender = asyncio.create_task(send())
        async for raw in socket:
            message = json.loads(raw)
            now = time.perf_counter() - start
            if message.get("audio"):
                times.setdefault("first_audio", now)
                times["last_audio"] = now
                if message.get("alignment"):
                    last_text = "".join(message["alignment"]["chars"])
            if message.get("isFinal"):
                break
        await sender
    return {"phrase_to_audio_s": times["first_audio"] - times["phrase_sent"],
            "tail_s": times["last_audio"] - times["last_word_sent"], "first_audio_s": times["first_audio"],
            "last_word_s": times["last_word_sent"], "last_text": last_text}  # type: ignore[dict-item]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--words-ms", default="30,50", help="the sender's pause between words: min,max ms")
    parser.add_argument("--format", default="pcm_24000")
    parser.add_argument("--threads", type=int, default=0, help="the floor's intra-op threads (0: the cores)")
    parser.add_argument("--data-dir", help="data dir (default: a temp dir with ../shared/assets voices)")
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()

    root = workload.data_dir(args.data_dir)
    low, high = (float(x) / 1000 for x in args.words_ms.split(","))
    words = ANSWER.split()
    assert len(words) >= 60, len(words)
    floor = harness.Floor(root, workload.model_path(root), args.threads)
    prepared = floor.prepare(ANSWER)
    server = harness.start_ours(root, env={}, log=Path("/tmp") / f"agent-stream-{harness.free_port()}.log")
    rows: list[dict[str, float]] = []
    try:
        for run in range(args.runs + 1):  # run 0 warms everything up
            rng = random.Random(run)
            delays = [rng.uniform(low, high) for _ in words]
            streamed = asyncio.run(stream_answer(server.url, words, delays, args.format))
            whole = harness.stream_speech(server.url, ANSWER, "pcm")
            first_chunk = floor.run(prepared, first_sentence=False)["ttfa_s"]
            tail_text = str(streamed.pop("last_text")).strip() or words[-1]
            last_chunk = sum(floor.run(floor.prepare(tail_text), first_sentence=False)[k] for k in ("total_s",))
            row = {**streamed, "floor_first_chunk_s": first_chunk, "floor_last_chunk_s": last_chunk,
                   "whole_first_audio_s": whole["ttfa_s"], "whole_total_s": whole["total_s"],
                   "wait_then_whole_first_audio_s": float(streamed["last_word_s"]) + whole["ttfa_s"]}
            print(f"run {run}{' (warm-up)' if run == 0 else ''}: " + ", ".join(
                f"{k} {v:.3f}" for k, v in row.items()), file=sys.stderr)
            if run:
                rows.append(row)
    finally:
        server.stop()
    median = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    phrase_ok = median["phrase_to_audio_s"] <= median["floor_first_chunk_s"] + 0.150
    tail_ok = median["tail_s"] <= median["floor_last_chunk_s"]
    print(f"\n{len(words)} words, one every {args.words_ms} ms, {args.runs} runs (medians), format {args.format}")
    print(f"  first phrase sent -> first audio   {median['phrase_to_audio_s'] * 1000:7.0f} ms   (target <= floor first "
          f"chunk {median['floor_first_chunk_s'] * 1000:.0f} ms + 150 ms: {'met' if phrase_ok else 'NOT met'})")
    print(f"  last word sent -> last audio       {median['tail_s'] * 1000:7.0f} ms   (target <= floor synthesis of the "
          f"last chunk {median['floor_last_chunk_s'] * 1000:.0f} ms: {'met' if tail_ok else 'NOT met'})")
    print(f"  streamed: first audio at           {median['first_audio_s'] * 1000:7.0f} ms after the first word was due")
    print(f"  whole text to /v1/audio/speech:    first audio {median['whole_first_audio_s'] * 1000:.0f} ms, "
          f"all {median['whole_total_s'] * 1000:.0f} ms; waiting for the whole answer first: first audio at "
          f"{median['wait_then_whole_first_audio_s'] * 1000:.0f} ms")
    print(f"  machine: {workload.machine()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": rows, "median": median, "phrase_target_met": phrase_ok,
                                               "tail_target_met": tail_ok, "machine": workload.machine()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
