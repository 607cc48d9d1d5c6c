"""A generated book as a job on the real server: throughput against the floor, RSS, live requests.

    python bench/book.py [--words 50000] [--chapter-words 2500] [--rounds 3] [--phase-seconds 90]
                         [--live-every 30] [--idle-requests 5] [--floor-chunks 24] [--data-dir DIR]
                         [--json bench/results/book.json]

1. ``kokoro-server serve`` starts (v1.0 preloaded, default settings: one engine slot per core).
2. Live requests on the idle server: time to the first audio byte (short texts, streamed PCM).
3. A ``--words`` book (plain text, ``Chapter N`` headings, the benchmark story's paragraphs) goes in
   as a job. Throughput is measured interleaved with the floor, ``--rounds`` times: the job runs for
   ``--phase-seconds`` (then is cancelled: no new chunk starts, the ones in progress end and count),
   then the floor runs as long: bare onnxruntime sessions in this process on a sample of the book's
   own chunks (phonemes prepared beforehand), in the better of one session with every core's threads
   or one single-thread session per core side by side; then the job is resumed. Both sides count the
   chunks' audio as a listener gets it (the model's edge silence cut to the service's margins, no
   pauses added). Target: job >= 0.95x the floor.
4. The job then runs to its end while a live request is sent every ``--live-every`` seconds and the
   server's RSS is sampled (target: flat; live first audio within one chunk's synthesis of idle).
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


class Floor:
    """The bare sessions on the book's chunks, prepared once; each ``run`` adds to both layouts' totals."""

    def __init__(self, root: Path, texts: list[str], threads: int) -> None:
        from kokoro_server.jobs.speaker import BOOK_PLAN
        from kokoro_server.service import SpeechRequest

        service, _ = workload.prepare(root, harness.VOICE, "Hello.")
        self.utterances = []
        for text in texts:
            prepared = service.prepare(SpeechRequest(text=text, voice=harness.VOICE, chunk_plan=BOOK_PLAN))
            self.utterances += workload.pipeline_chunks(service, prepared)
        model = workload.model_path(root)
        self.threads = threads
        self.wide = workload.open_session(model, threads)
        self.narrow = [workload.open_session(model, 1) for _ in range(threads)]
        self.pool = ThreadPoolExecutor(threads)
        self.totals = {"wide": [0.0, 0.0], "narrow": [0.0, 0.0]}  # [audio s, wall s]
        for session in (self.wide, *self.narrow):
            workload.run_once(session, self.utterances[0])

    def run(self, seconds: float) -> None:
        """Half of ``seconds`` each layout: the single-thread sessions side by side (their rates add up,
        each over its own time), then the wide one; each goes round the chunks until its time is up."""
        def loop(session: object, start: int, stride: int, deadline: float) -> tuple[int, float]:
            samples, i, begin = 0, start, time.perf_counter()
            while time.monotonic() < deadline:
                samples += heard(workload.run_once(session, self.utterances[i % len(self.utterances)]))
                i += stride
            return samples, time.perf_counter() - begin

        deadline = time.monotonic() + seconds / 2
        runs = list(self.pool.map(lambda k: loop(self.narrow[k], k, self.threads, deadline), range(self.threads)))
        wall = max(elapsed for _, elapsed in runs)
        self._add("narrow", int(sum(samples / elapsed for samples, elapsed in runs) * wall), wall)
        self._add("wide", *loop(self.wide, 0, 1, time.monotonic() + seconds / 2))

    def _add(self, layout: str, samples: int, seconds: float) -> None:
        self.totals[layout][0] += samples / harness.SAMPLE_RATE
        self.totals[layout][1] += seconds

    def audio_per_second(self) -> dict[str, float]:
        return {layout: audio / wall for layout, (audio, wall) in self.totals.items() if wall}


def heard(audio: object) -> int:
    """Samples of a model output as a listener gets them: its edge silence cut to the service's margins,
    as the job's chunks are (so both sides count the same audio)."""
    from kokoro_server.audio.silence import LEAD_MARGIN, TRAIL_MARGIN, speech_bounds

    start, end = speech_bounds(audio, lead=LEAD_MARGIN, trail=TRAIL_MARGIN)  # type: ignore[arg-type]
    return end - start


def live_request(url: str, text: str) -> float:
    return harness.stream_speech(url, text, "pcm")["ttfa_s"]


def job_audio(database: Path, job_id: str, since: float) -> tuple[float, float | None]:
    """Audio seconds of the chunks done since ``since``, and when the last of them was done."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        samples, last = db.execute("SELECT COALESCE(SUM(samples), 0), MAX(done_at) FROM chunks WHERE job_id = ? "
                                   "AND done = 1 AND done_at >= ?", (job_id, since)).fetchone()
    return samples / harness.SAMPLE_RATE, last


def busy_rate(database: Path, job_id: str, workers: int, since: float = 0.0, until: float = float("inf")) -> float:
    """Audio seconds per second of the job in steady state: each chunk from the start of its (last)
    attempt to its record, everything a worker does for it included (writes and fsyncs too), and
    ``workers`` chunks at a time. Unlike a phase's window, it leaves out the worker that is idle
    while the other finishes the chunk in progress after a cancel (an artifact of the phases)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT k.samples, k.done_at - (SELECT MAX(a.at) FROM attempts a WHERE a.job_id = k.job_id AND "
            "a.chapter = k.chapter AND a.idx = k.idx AND a.at <= k.done_at) FROM chunks k WHERE k.job_id = ? AND "
            "k.done = 1 AND k.done_at >= ? AND k.done_at <= ?", (job_id, since, until)).fetchall()
    audio = sum(samples for samples, _ in rows) / harness.SAMPLE_RATE
    busy = sum(seconds for _, seconds in rows if seconds)
    return workers * audio / busy if busy else float("nan")


def wait_idle(client: httpx.Client, job_id: str) -> None:
    """Until the cancelled job's chunks in progress have ended (no background slot held)."""
    while True:
        ready = client.get("/ready").json()
        queue = ready.get("queue") or {}
        if client.get(f"/v1/audio/jobs/{job_id}").json()["status"] != "running" and not queue.get("background", 0):
            return
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", type=int, default=50_000)
    parser.add_argument("--chapter-words", type=int, default=2_500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--phase-seconds", type=float, default=90.0)
    parser.add_argument("--live-every", type=float, default=30.0)
    parser.add_argument("--idle-requests", type=int, default=5)
    parser.add_argument("--floor-chunks", type=int, default=24)
    parser.add_argument("--data-dir")
    parser.add_argument("--json")
    args = parser.parse_args()

    root = workload.data_dir(args.data_dir)
    workload.model_path(root)
    cores = harness.usable_cores()
    book = root / "bench-book.txt"
    book.write_text(book_text(args.words, args.chapter_words))
    database = root / "jobs" / "jobs.sqlite3"
    live_texts = harness.short_texts()
    server = harness.start_ours(root, env={}, log=root / "server.log")
    result: dict[str, object] = {"machine": workload.machine(), "words": args.words, "cores": cores}
    try:
        client = httpx.Client(base_url=server.url, timeout=600)
        for t in live_texts[:2]:  # warm-up
            live_request(server.url, t)
        idle = [live_request(server.url, live_texts[i % len(live_texts)]) for i in range(args.idle_requests)]
        from kokoro_server.jobs.books import ReadOptions, read_book
        from kokoro_server.jobs.plan import plan_chapter
        from kokoro_server.languages import LANGUAGES

        chapters = read_book(book, "text", ReadOptions()).chapters  # the job's own plan, made here first
        rules = LANGUAGES[harness.VOICE[0]].chunking  # the voice's language cuts long sentences, as in the job
        sample = [c.text[p.start:p.end] for c in chapters if c.kind == "body" for p in plan_chapter(c.text, rules=rules)]
        step = max(1, len(sample) // args.floor_chunks)
        floor = Floor(root, sample[::step][:args.floor_chunks], cores)  # ready before the job starts
        with book.open("rb") as handle:
            created = client.post("/v1/audio/jobs", files={"file": ("book.txt", handle)})
        created.raise_for_status()
        job_id = created.json()["id"]
        started = time.time()
        print(f"job {job_id}: {created.json()['progress']['chars']} characters, "
              f"{len(created.json()['chapters'])} chapters", file=sys.stderr)
        job_totals = [0.0, 0.0]
        rounds = []
        for n in range(args.rounds):
            time.sleep(max(0.0, started + args.phase_seconds - time.time()))
            client.post(f"/v1/audio/jobs/{job_id}/cancel").raise_for_status()
            wait_idle(client, job_id)
            audio, last = job_audio(database, job_id, started)
            wall = (last or time.time()) - started
            job_totals[0] += audio
            job_totals[1] += wall
            before = {k: list(v) for k, v in floor.totals.items()}
            floor.run(args.phase_seconds)
            rounds.append({"job_audio_s": round(audio, 1), "job_wall_s": round(wall, 1),
                           "job_busy_rate": round(busy_rate(database, job_id, cores, started, last or time.time()), 3),
                           "floor": {k: round((floor.totals[k][0] - before[k][0]) / (floor.totals[k][1] - before[k][1]), 3)
                                     for k in floor.totals}})
            print(f"  round {n + 1}: job {audio / wall:.3f} audio s / s (steady state {rounds[-1]['job_busy_rate']}), "
                  f"floor {rounds[-1]['floor']}", file=sys.stderr)
            client.post(f"/v1/audio/jobs/{job_id}/resume").raise_for_status()
            started = time.time()
        during, rss = [], []
        last_live = time.monotonic()
        while True:
            job = client.get(f"/v1/audio/jobs/{job_id}").json()
            rss.append((job["progress"]["fraction"], harness.rss_mb(server.pid)))
            if job["status"] not in ("queued", "running"):
                break
            if job["phase"] == "synthesizing" and time.monotonic() - last_live > args.live_every \
                    and job["progress"]["fraction"] < 0.98:
                during.append(live_request(server.url, live_texts[len(during) % len(live_texts)]))
                last_live = time.monotonic()
                print(f"  {job['progress']['fraction']:.1%} done, live first audio {during[-1]:.3f} s, "
                      f"RSS {rss[-1][1]:.0f} MiB", file=sys.stderr)
            time.sleep(2)
        if job["status"] != "completed":
            raise SystemExit(f"the job ended {job['status']}: {job.get('error')}")
        client.close()
    finally:
        server.stop()
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        last_done, samples, chunks = db.execute("SELECT MAX(done_at), SUM(samples), COUNT(*) FROM chunks "
                                                "WHERE job_id = ?", (job_id,)).fetchone()
        chunk_seconds = [s for (s,) in db.execute("SELECT seconds FROM chunks WHERE job_id = ?", (job_id,))]
    job_rate = job_totals[0] / job_totals[1]
    steady = busy_rate(database, job_id, cores)  # every chunk of the job
    floor_rates = floor.audio_per_second()
    floor_rate = max(floor_rates.values())
    result.update({
        "job": {"id": job_id, "chunks": chunks, "audio_s": round(samples / harness.SAMPLE_RATE, 1),
                "audio_s_per_wall_s": round(job_rate, 3), "steady_audio_s_per_s": round(steady, 3),
                "measured_audio_s": round(job_totals[0], 1),
                "measured_wall_s": round(job_totals[1], 1),
                "assembly_s": round(job["finished_at"] - last_done, 1) if job.get("finished_at") else None,
                "chunk_seconds_median": round(statistics.median(chunk_seconds), 3),
                "chunk_seconds_max": round(max(chunk_seconds), 3), "levels": job["levels"]},
        "floor": {"audio_s_per_wall_s": round(floor_rate, 3), "layouts": {k: round(v, 3) for k, v in floor_rates.items()},
                  "utterances": len(floor.utterances)},
        "rounds": rounds,
        "ratio_to_floor": round(job_rate / floor_rate, 3),
        "steady_ratio_to_floor": round(steady / floor_rate, 3),
        "rss_mib": {"at": [(round(f, 3), round(m, 1)) for f, m in rss[:: max(1, len(rss) // 20)]],
                    "first": round(rss[0][1], 1), "max": round(max(m for _, m in rss), 1), "last": round(rss[-1][1], 1)},
        "live_first_audio_s": {"idle_median": round(statistics.median(idle), 3), "idle": [round(x, 3) for x in idle],
                               "during_median": round(statistics.median(during), 3) if during else None,
                               "during_max": round(max(during), 3) if during else None,
                               "during": [round(x, 3) for x in during]},
    })
    print(json.dumps(result, indent=1))
    workload.print_table(["measure", "value"], [
        ["book audio (s)", round(samples / harness.SAMPLE_RATE, 1)],
        ["job audio s / wall s (interleaved phases)", round(job_rate, 3)],
        ["floor audio s / wall s (best layout)", round(floor_rate, 3)],
        ["job / floor", round(job_rate / floor_rate, 3)],
        ["job steady state audio s / s (all chunks)", round(steady, 3)],
        ["job steady state / floor", round(steady / floor_rate, 3)],
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
