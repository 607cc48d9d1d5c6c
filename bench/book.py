"""A generated book as a job on the real server: throughput against the floor, RSS, live requests.

    python bench/book.py [--words 50000] [--chapter-words 2500] [--live-every 30] [--idle-requests 5]
                         [--floor-chunks 24] [--data-dir DIR] [--json bench/results/book.json]

1. ``kokoro-server serve`` starts (v1.0 preloaded, the default settings: one engine slot per core).
2. Live requests on the idle server: time to the first audio byte (short texts, streamed PCM).
3. A ``--words`` book (plain text, ``Chapter N`` headings, the benchmark story's paragraphs) goes in
   as a job; while it runs, RSS is sampled and a live request is sent every ``--live-every`` seconds.
4. Once it is done: the job's audio seconds per wall second of synthesis (first chunk started to last
   chunk done; writing the M4B is timed apart), and the floor: bare onnxruntime sessions on a sample
   of the book's own chunks (prepared beforehand), measured before and after the job, in the better of
   one session with all cores' threads or one single-thread session per core running side by side.
   Both sides count the chunks' own audio (no added pauses). Target: >= 0.95x of the floor.
5. Live first audio while the book runs against the idle figure and the book's chunk times
   (target: within one chunk's synthesis of the idle server's).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

import harness
import workload


def book_text(words: int, chapter_words: int) -> str:
    paragraphs = harness.PARAGRAPHS
    chapters, count, n, i = [], 0, 0, 0
    while count < words:
        n += 1
        body, size = [], 0
        while size < chapter_words and count + size < words:
            paragraph = paragraphs[i % len(paragraphs)]
            i += 1
            body.append(paragraph)
            size += len(paragraph.split())
        chapters.append(f"Chapter {n}\n\n" + "\n\n".join(body))
        count += size
    return "Title: The Mill Lane Book\nAuthor: Bench\n\n" + "\n\n".join(chapters) + "\n"


def floor_sample(root: Path, texts: list[str], threads: int) -> dict[str, float]:
    """Seconds of compute per second of audio of the bare session on these chunk texts, both layouts."""
    service, _ = workload.prepare(root, harness.VOICE, "Hello.")
    from kokoro_server.jobs.speaker import BOOK_PLAN
    from kokoro_server.service import SpeechRequest

    utterances = []
    for text in texts:
        prepared = service.prepare(SpeechRequest(text=text, voice=harness.VOICE, chunk_plan=BOOK_PLAN))
        utterances += workload.pipeline_chunks(service, prepared)
    model = workload.model_path(root)
    wide = workload.open_session(model, threads)
    narrow = [workload.open_session(model, 1) for _ in range(threads)]
    workload.run_once(wide, utterances[0])
    audio = sum(workload.run_once(narrow[0], u).size for u in utterances) / workload.SAMPLE_RATE
    start = time.perf_counter()
    for u in utterances:
        workload.run_once(wide, u)
    wide_s = time.perf_counter() - start
    with ThreadPoolExecutor(threads) as pool:
        start = time.perf_counter()
        list(pool.map(lambda k: [workload.run_once(narrow[k], u) for u in utterances[k::threads]], range(threads)))
        narrow_s = time.perf_counter() - start
    return {"audio_s": audio, "wide_rtf": wide_s / audio, "narrow_rtf": narrow_s / audio,
            "rtf": min(wide_s, narrow_s) / audio, "chunks": len(utterances)}


def live_request(url: str, text: str) -> float:
    return harness.stream_speech(url, text, "pcm")["ttfa_s"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", type=int, default=50_000)
    parser.add_argument("--chapter-words", type=int, default=2_500)
    parser.add_argument("--live-every", type=float, default=30.0)
    parser.add_argument("--idle-requests", type=int, default=5)
    parser.add_argument("--floor-chunks", type=int, default=24)
    parser.add_argument("--data-dir")
    parser.add_argument("--json")
    args = parser.parse_args()

    root = workload.data_dir(args.data_dir)
    workload.model_path(root)
    cores = harness.usable_cores()
    text = book_text(args.words, args.chapter_words)
    book = root / "bench-book.txt"
    book.write_text(text)
    live_texts = harness.short_texts()
    server = harness.start_ours(root, env={}, log=root / "server.log")
    result: dict[str, object] = {"machine": workload.machine(), "words": args.words, "cores": cores}
    try:
        for t in live_texts[:2]:  # warm-up
            live_request(server.url, t)
        idle = [live_request(server.url, live_texts[i % len(live_texts)]) for i in range(args.idle_requests)]
        with httpx.Client(base_url=server.url, timeout=600) as client, book.open("rb") as handle:
            created = client.post("/v1/audio/jobs", files={"file": ("book.txt", handle)})
            created.raise_for_status()
            job_id = created.json()["id"]
            print(f"job {job_id}: {created.json()['progress']['chars']} characters, "
                  f"{len(created.json()['chapters'])} chapters", file=sys.stderr)
            during, rss = [], []
            last_live = time.monotonic()
            while True:
                job = client.get(f"/v1/audio/jobs/{job_id}").json()
                rss.append((job["progress"]["fraction"], harness.rss_mb(server.pid)))
                if job["status"] not in ("queued", "running"):
                    break
                if job["phase"] == "synthesizing" and time.monotonic() - last_live > args.live_every \
                        and 0.02 < job["progress"]["fraction"] < 0.98:
                    during.append(live_request(server.url, live_texts[len(during) % len(live_texts)]))
                    last_live = time.monotonic()
                    print(f"  {job['progress']['fraction']:.1%} done, live first audio {during[-1]:.3f} s, "
                          f"RSS {rss[-1][1]:.0f} MiB", file=sys.stderr)
                time.sleep(2)
        if job["status"] != "completed":
            raise SystemExit(f"the job ended {job['status']}: {job.get('error')}")
    finally:
        server.stop()
    with sqlite3.connect(root / "jobs" / "jobs.sqlite3") as db:
        first_attempt = db.execute("SELECT MIN(at) FROM attempts WHERE job_id = ?", (job_id,)).fetchone()[0]
        last_done, samples, chunks = db.execute("SELECT MAX(done_at), SUM(samples), COUNT(*) FROM chunks "
                                                "WHERE job_id = ?", (job_id,)).fetchone()
        chunk_seconds = [s for (s,) in db.execute("SELECT seconds FROM chunks WHERE job_id = ?", (job_id,))]
        sample = [t[s:e] for t, s, e in db.execute(
            "SELECT c.text, k.start, k.end FROM chunks k JOIN chapters c ON c.job_id = k.job_id AND "
            "c.number = k.chapter WHERE k.job_id = ? ORDER BY k.chapter, k.idx", (job_id,))]
    synthesis_s = last_done - first_attempt
    audio_s = samples / harness.SAMPLE_RATE
    step = max(1, len(sample) // args.floor_chunks)
    floor_texts = sample[::step][:args.floor_chunks]
    floor_before_after = [floor_sample(root, floor_texts, cores)]
    floor_before_after.append(floor_sample(root, floor_texts, cores))
    floor_rtf = statistics.mean(f["rtf"] for f in floor_before_after)
    job_rtf = synthesis_s / audio_s
    result.update({
        "job": {"id": job_id, "chunks": chunks, "audio_s": round(audio_s, 1), "synthesis_s": round(synthesis_s, 1),
                "rtf": round(job_rtf, 4), "audio_s_per_wall_s": round(1 / job_rtf, 3),
                "assembly_s": round(job["finished_at"] - last_done, 1) if job.get("finished_at") else None,
                "chunk_seconds_median": round(statistics.median(chunk_seconds), 3),
                "chunk_seconds_max": round(max(chunk_seconds), 3), "levels": job["levels"]},
        "floor": {"rtf": round(floor_rtf, 4), "audio_s_per_wall_s": round(1 / floor_rtf, 3),
                  "runs": floor_before_after},
        "ratio_to_floor": round(floor_rtf / job_rtf, 3),
        "rss_mib": {"at": [(round(f, 3), round(m, 1)) for f, m in rss[:: max(1, len(rss) // 20)]],
                    "first": round(rss[0][1], 1), "max": round(max(m for _, m in rss), 1), "last": round(rss[-1][1], 1)},
        "live_first_audio_s": {"idle_median": round(statistics.median(idle), 3), "idle": [round(x, 3) for x in idle],
                               "during_median": round(statistics.median(during), 3) if during else None,
                               "during_max": round(max(during), 3) if during else None,
                               "during": [round(x, 3) for x in during]},
    })
    print(json.dumps(result, indent=1))
    workload.print_table(["measure", "value"], [
        ["book audio (s)", round(audio_s, 1)], ["synthesis wall (s)", round(synthesis_s, 1)],
        ["job audio s / wall s", round(1 / job_rtf, 3)], ["floor audio s / wall s", round(1 / floor_rtf, 3)],
        ["job / floor", round(floor_rtf / job_rtf, 3)],
        ["RSS first / max / last (MiB)", f"{rss[0][1]:.0f} / {max(m for _, m in rss):.0f} / {rss[-1][1]:.0f}"],
        ["live first audio idle (median s)", round(statistics.median(idle), 3)],
        ["live first audio during book (median / max s)",
         f"{statistics.median(during):.3f} / {max(during):.3f}" if during else "-"],
        ["book chunk synthesis (median / max s)", f"{statistics.median(chunk_seconds):.3f} / {max(chunk_seconds):.3f}"],
    ])
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
