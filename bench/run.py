"""The benchmark suite: our server against the bare model (the floor) and the peers, in one run.

    python bench/run.py [--quick] [--runs N] [--long] [--json out.json]
    python bench/run.py --soak 1000                  # memory over many sequential short requests

One run on one machine measures, one system after the other (never two at once), interleaved run by
run so that machine noise hits them alike:

- the floor: a bare onnxruntime session on the model file, fed the tokens of the chunks our pipeline
  cuts (phonemes prepared beforehand): time to its first chunk's audio, total, RTF;
- our server (``kokoro-server serve`` in a subprocess, loopback HTTP): time to the first audio byte,
  streamed mp3 and pcm, total time, RTF, peak RSS, for a 60-word and a 600-word text (and a
  6,000-word one with ``--long``: about 11 minutes each for ours and the floor on 2 cores);
- the peers from PyPI, in their own venv (``bench/.peers-venv``, made on first use): fastkokoro's
  server (pcm and mp3 streamed) and kokoro-onnx's streaming API, on the same model file and voice;
- Kokoro-FastAPI's server (pcm and mp3 streamed) from its source (a git clone in
  ``bench/.peers-src/Kokoro-FastAPI`` or ``--kokoro-fastapi-src DIR``; not in this repository), in its
  own venv, on its PyTorch CPU path with the dequantized v1.0 weights (``peer_kokoro_fastapi.py``);
- throughput (audio seconds per wall second) and p50/p95 latency with 1, 2, 4 and 8 concurrent
  clients sending short texts (two sentences, pcm streamed), for our server and the peer servers; the
  floor runs the same requests one after the other.

Figures are medians over the runs with (min-max). Ratios and the issue's targets follow; the JSON
(default ``bench/results/run-<time>.json``) holds every run and the machine facts.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kokoro_server.cpus import usable_cores

import harness
import peer_kokoro_fastapi as kfapi
import peers

Measure = Callable[[str], dict[str, float]]


@dataclass
class System:
    name: str
    measure: Measure
    kind: str  # floor | ours | peer


@dataclass
class Config:
    runs: int
    long_runs: int
    texts: list[int]
    clients: list[int]
    conc_runs: int
    requests_per_client: int
    min_requests: int
    server_concurrency: list[int | None]
    server_env: dict[str, str]
    threads: int
    peers: bool
    kokoro_fastapi: Path | None  # its source; None: not run
    kokoro_fastapi_skipped: str  # why not, when it was not asked for by name
    quick: bool
    soak: int
    soak_max_s: float


def int_list(value: str) -> list[int]:
    return [int(part) for part in value.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None = None) -> tuple[Config, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="2 runs of the 60-word text, the 600-word text once in pcm only, one round of "
                             "the concurrency levels with fewer requests (about 20 minutes here)")
    parser.add_argument("--runs", type=int, help="runs of the 60-word text and of the concurrency levels "
                                                  "(default 3; 2 with --quick)")
    parser.add_argument("--long-runs", type=int, default=1, help="runs of the 600- and 6,000-word texts (default 1)")
    parser.add_argument("--long", action="store_true",
                        help="add the 6,000-word text (ours pcm and the floor only: ~11 min each on 2 cores)")
    parser.add_argument("--texts", type=int_list, help="word counts of the single-request texts (default 60,600)")
    parser.add_argument("--clients", type=int_list, default=[1, 2, 4, 8],
                        help="concurrent client counts (default 1,2,4,8; '' skips the concurrency part)")
    parser.add_argument("--server-concurrency", type=int_list,
                        help="run our server once per KOKORO_CONCURRENCY value, e.g. 1,2 (the first one also "
                             "serves the single-request part); default: the environment's setting")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for our server (repeatable), e.g. KOKORO_SESSIONS=2")
    parser.add_argument("--threads", type=int, default=0,
                        help="intra-op threads for ours (KOKORO_THREADS), the floor and the peers (0 = all cores)")
    parser.add_argument("--no-peers", action="store_true", help="skip the PyPI peers (fastkokoro, kokoro-onnx)")
    parser.add_argument("--kokoro-fastapi-src", metavar="DIR",
                        help="Kokoro-FastAPI's source (a git clone; default bench/.peers-src/Kokoro-FastAPI, "
                             "skipped when absent there)")
    parser.add_argument("--no-kokoro-fastapi", action="store_true", help="skip Kokoro-FastAPI")
    parser.add_argument("--soak", type=int, default=0, metavar="N",
                        help="instead: N sequential short requests to our server, its RSS after each")
    parser.add_argument("--soak-max-s", type=float, default=1800, help="stop the soak after this many seconds")
    parser.add_argument("--data-dir", help="data dir (default: a temp dir whose voices link to ../shared/assets)")
    parser.add_argument("--json", help="write the results here (default bench/results/run-<time>.json)")
    args = parser.parse_args(argv)
    runs = args.runs or (2 if args.quick else 3)
    texts = args.texts if args.texts is not None else [60, 600]
    if args.long and 6000 not in texts:
        texts.append(6000)
    env = {}
    for item in args.server_env:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("KOKORO_"):
            parser.error(f"--server-env wants KOKORO_NAME=VALUE, got {item!r}")
        env[key] = value
    kokoro_fastapi, skipped = None, ""
    if not args.no_kokoro_fastapi:
        try:
            kokoro_fastapi = kfapi.check_source(Path(args.kokoro_fastapi_src or kfapi.DEFAULT_SRC))
        except SystemExit as missing:
            if args.kokoro_fastapi_src:
                parser.error(str(missing))
            skipped = str(missing)
    config = Config(runs=runs, long_runs=args.long_runs, texts=texts, clients=args.clients,
                    conc_runs=1 if args.quick and args.runs is None else runs,
                    requests_per_client=1 if args.quick else 2, min_requests=2 if args.quick else 4,
                    server_concurrency=args.server_concurrency or [None], server_env=env, threads=args.threads,
                    peers=not args.no_peers, kokoro_fastapi=kokoro_fastapi, kokoro_fastapi_skipped=skipped,
                    quick=args.quick, soak=args.soak, soak_max_s=args.soak_max_s)
    return config, args


# -- plans -------------------------------------------------------------------------------------

def runs_for(words: int, config: Config) -> int:
    return config.runs if words < 600 else config.long_runs


def formats_for(words: int, config: Config) -> list[str]:
    return ["pcm"] if words >= 6000 or (config.quick and words >= 600) else ["mp3", "pcm"]


def requests_for(clients: int, config: Config) -> int:
    return max(config.min_requests, config.requests_per_client * clients)


def workload(requests: int) -> list[str]:
    return list(itertools.islice(itertools.cycle(harness.short_texts()), requests))


# -- ratios and targets (pure: they only read the summaries) -----------------------------------

def median(summaries: dict[str, Any], system: str, metric: str) -> float:
    entry = summaries.get(system, {}).get(metric)
    return entry["median"] if entry else float("nan")


def ratio(a: float, b: float) -> float:
    return a / b if b and not (math.isnan(a) or math.isnan(b)) else float("nan")


def single_ratios(single: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per text: ours against the floor (same chunks, so the time ratio is the overhead) and against
    each peer (different chunking and trimming, so RTF compares audio per second of work too)."""
    rows = []
    for words, summaries in single.items():
        for ours in (s for s in summaries if s.startswith("ours ")):
            fmt = ours.split()[-1]
            floor_ttfa, floor_total = median(summaries, "floor", "ttfa_s"), median(summaries, "floor", "total_s")
            ttfa, total = median(summaries, ours, "ttfa_s"), median(summaries, ours, "total_s")
            rows.append({"words": words, "ours": ours, "vs": "floor", "ttfa_ratio": ratio(ttfa, floor_ttfa),
                         "ttfa_minus_floor_ms": (ttfa - floor_ttfa) * 1000, "total_ratio": ratio(total, floor_total),
                         "rtf_ratio": ratio(median(summaries, ours, "rtf"), median(summaries, "floor", "rtf"))})
            for peer in (s for s in summaries if s.startswith(("fastkokoro", "kokoro-onnx", "kokoro-fastapi"))):
                peer_fmt = peer.split()[-1]
                if peer.startswith(PEER_SERVERS) and peer_fmt != fmt:
                    continue
                rows.append({"words": words, "ours": ours, "vs": peer,
                             "ttfa_ratio": ratio(ttfa, median(summaries, peer, "ttfa_s")),
                             "total_ratio": ratio(total, median(summaries, peer, "total_s")),
                             "rtf_ratio": ratio(median(summaries, ours, "rtf"), median(summaries, peer, "rtf"))})
    return rows


PEER_SERVERS = ("fastkokoro", "kokoro-fastapi")  # the peers that are servers: compared format by format and
# in the concurrency part


def concurrency_ratios(concurrency: dict[str, dict[int, Any]]) -> list[dict[str, Any]]:
    floor = concurrency.get("floor", {}).get(1, {}).get("throughput", {}).get("median", float("nan"))
    rows = []
    for name, levels in concurrency.items():
        if not name.startswith("ours"):
            continue
        for clients, summary in levels.items():
            row = {"system": name, "clients": clients,
                   "throughput_vs_floor": ratio(summary["throughput"]["median"], floor)}
            for name in PEER_SERVERS:
                peer = concurrency.get(name, {}).get(clients)
                if peer:
                    row[f"throughput_vs_{name}"] = ratio(summary["throughput"]["median"], peer["throughput"]["median"])
            rows.append(row)
    return rows


def targets(single: dict[int, dict[str, Any]], concurrency: dict[str, dict[int, Any]],
            memory: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the figure measured in this run and whether it is met."""
    found: list[dict[str, Any]] = []

    def add(target: str, value: float, limit: float, higher_is_better: bool, shown: str) -> None:
        met = None if math.isnan(value) else (value >= limit if higher_is_better else value <= limit)
        found.append({"target": target, "value": value, "limit": limit, "shown": shown, "met": met})

    longest = max(single, default=0)
    if longest >= 600:
        s = single[longest]
        for fmt in ("pcm", "mp3"):
            if f"ours {fmt}" in s:
                speed = ratio(median(s, "floor", "total_s"), median(s, f"ours {fmt}", "total_s"))
                add(f"one long streamed request ({longest} words, {fmt}): throughput >= 0.95 x floor", speed, 0.95,
                    True, f"{speed:.3f} x floor")
    if 60 in single:
        s = single[60]
        floor_first = median(s, "floor", "ttfa_s")
        for fmt in ("pcm", "mp3"):
            if f"ours {fmt}" in s:
                ttfa = median(s, f"ours {fmt}", "ttfa_s")
                add(f"60 words, {fmt}: TTFA <= floor first chunk + 150 ms", (ttfa - floor_first) * 1000, 150, False,
                    f"{ttfa:.2f} s vs {floor_first:.2f} s (+{(ttfa - floor_first) * 1000:.0f} ms)")
            if f"ours {fmt}" in s and f"fastkokoro {fmt}" in s:
                r = ratio(median(s, f"ours {fmt}", "ttfa_s"), median(s, f"fastkokoro {fmt}", "ttfa_s"))
                add(f"60 words, {fmt}: TTFA <= 0.5 x fastkokoro's", r, 0.5, False, f"{r:.2f} x fastkokoro")
    floor = concurrency.get("floor", {}).get(1, {}).get("throughput", {}).get("median", float("nan"))
    for name, levels in concurrency.items():
        if name.startswith("ours") and 4 in levels:
            r = ratio(levels[4]["throughput"]["median"], floor)
            add(f"{name}, 4 clients: throughput >= 1.2 x single-request floor", r, 1.2, True,
                f"{r:.2f} x floor (p95 latency {levels[4]['latency_p95_s']:.1f} s)")
    for label, entry in memory.items():
        add(f"RSS flat (+-10%): {label}", entry["growth_pct"], 10.0, False,
            f"{entry['first_mb']:.0f} -> max {entry['max_mb']:.0f}, last {entry['last_mb']:.0f} MiB "
            f"({entry['growth_pct']:+.1f}% max, {entry['drift_pct']:+.1f}% last)")
    return found


def rss_trend(first: float, last: float, peak: float) -> dict[str, float]:
    return {"first_mb": first, "last_mb": last, "max_mb": peak, "drift_pct": (last - first) / first * 100,
            "growth_pct": (peak - first) / first * 100}


# -- printing ----------------------------------------------------------------------------------

def cell(summary: dict[str, float] | None, digits: int = 2, scale: float = 1.0) -> str:
    if not summary or not summary.get("n"):
        return "-"
    med, lo, hi = (summary[k] * scale for k in ("median", "min", "max"))
    if summary["n"] == 1 or f"{lo:.{digits}f}" == f"{hi:.{digits}f}":
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table (readable as plain text too)."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "| " + " | ".join("-" * w for w in widths) + " |", *map(line, rows)])


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    out = [f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['platform']}",
           f"date: {m['date']}; load before: {m['uptime']}; after: {results.get('uptime_after', '-')}",
           f"versions: kokoro-server {m['kokoro_server']} ({m['commit']}), python {m['python']}, onnxruntime "
           f"{m['onnxruntime']}" + "".join(f", {k} {v}" for k, v in results.get("peer_versions", {}).items()),
           f"command: {m['command']}", f"settings: {results['settings']}", ""]
    single = results["single"]
    if single:
        out.append("Single requests (seconds; median (min-max) over runs; RSS of the serving process, MiB)")
        rows = []
        for words, summaries in single.items():
            for name, s in summaries.items():
                first = cell(s.get("ttfa_s"))
                if name == "floor" and s.get("first_sentence_s"):
                    first += f"; 1st sentence {cell(s['first_sentence_s'])}"
                rows.append([str(words), name, str(s["runs"]), cell(s.get("audio_s"), 1), first, cell(s.get("total_s")),
                             cell(s.get("rtf"), 3), cell(s.get("rss_peak_mb"), 0)])
        out += [table(["words", "system", "runs", "audio s", "first audio s", "total s", "RTF", "peak RSS"], rows), ""]
        rows = [[str(r["words"]), r["ours"], r["vs"], f"{r['ttfa_ratio']:.2f}",
                 f"{r['ttfa_minus_floor_ms']:+.0f}" if "ttfa_minus_floor_ms" in r else "-", f"{r['total_ratio']:.3f}",
                 f"{r['rtf_ratio']:.3f}"] for r in results["ratios"]["single"]]
        out += ["Ratios of medians, ours / other (below 1: ours is faster)",
                table(["words", "ours", "vs", "first audio", "first audio - floor's, ms", "total", "RTF"], rows), ""]
    if results["concurrency"]:
        out.append("Concurrent clients, short texts (2 sentences, pcm streamed): throughput = audio s per wall s; "
                   "latency = request start to last byte, over all runs")
        rows = []
        for name, levels in results["concurrency"].items():
            for clients, s in levels.items():
                rows.append([name, str(clients), str(s["requests"]), cell(s["throughput"]), f"{s['latency_p50_s']:.2f}",
                             f"{s['latency_p95_s']:.2f}", f"{s['ttfa_p50_s']:.2f}", f"{s['ttfa_p95_s']:.2f}",
                             cell(s.get("rss_peak_mb"), 0)])
        out += [table(["system", "clients", "requests/run", "throughput", "latency p50", "p95", "first audio p50",
                       "p95", "peak RSS"], rows), ""]
        rows = [[r["system"], str(r["clients"]), f"{r['throughput_vs_floor']:.2f}",
                 *(f"{r[f'throughput_vs_{p}']:.2f}" if f"throughput_vs_{p}" in r else "-" for p in PEER_SERVERS)]
                for r in results["ratios"]["concurrency"]]
        out += ["Throughput ratios: ours / single-request floor, ours / each peer server at the same client count",
                table(["system", "clients", "vs floor", *(f"vs {p}" for p in PEER_SERVERS)], rows), ""]
    if results.get("soak"):
        s = results["soak"]
        out += [f"Soak: {s['requests']} sequential short requests in {s['seconds']:.0f} s "
                f"(latency p50 {s['latency_p50_s']:.2f} s, p95 {s['latency_p95_s']:.2f} s)", ""]
    out.append("Targets (issue 5)")
    out.append(table(["target", "measured", "met"],
                     [[t["target"], t["shown"], {True: "yes", False: "NO", None: "-"}[t["met"]]]
                      for t in results["targets"]]))
    return "\n".join(out)


# -- running -----------------------------------------------------------------------------------

def summarize_runs(runs: list[dict[str, float]]) -> dict[str, Any]:
    keys = sorted({k for r in runs for k, v in r.items() if isinstance(v, (int, float))})
    return {"runs": len(runs), **{k: harness.summarize([r[k] for r in runs if k in r]) for k in keys}}


def summarize_levels(runs: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [x for r in runs for x in r["latencies_s"]]
    ttfas = [x for r in runs for x in r["ttfas_s"]]
    return {"requests": runs[0]["requests"], "throughput": harness.summarize([r["throughput"] for r in runs]),
            "rss_peak_mb": harness.summarize([r["rss_peak_mb"] for r in runs]),
            "latency_p50_s": harness.percentile(latencies, 50), "latency_p95_s": harness.percentile(latencies, 95),
            "ttfa_p50_s": harness.percentile(ttfas, 50), "ttfa_p95_s": harness.percentile(ttfas, 95)}


def plain(value: Any) -> Any:
    """JSON-safe: NaN (nothing measured) becomes null, keys become strings."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def our_env(config: Config, concurrency: int | None) -> dict[str, str]:
    env = {"KOKORO_THREADS": str(config.threads), **config.server_env}
    if concurrency is not None:
        env["KOKORO_CONCURRENCY"] = str(concurrency)
    return env


def our_name(config: Config, concurrency: int | None) -> str:
    return "ours" if len(config.server_concurrency) == 1 else f"ours concurrency={concurrency}"


def run_suite(config: Config, root: Path, logs: Path, results: dict[str, Any]) -> None:
    model = harness.model_path(root)
    threads = config.threads or usable_cores()
    started: list[Any] = []
    try:
        log("loading the floor session and our server(s)")
        floor = harness.Floor(root, model, config.threads)
        ours = []
        for c in config.server_concurrency:
            server = harness.start_ours(root, env=our_env(config, c), log=logs / f"ours-{c}.log",
                                        name=our_name(config, c))
            started.append(server)
            ours.append(server)
        fastkokoro = library = None
        if config.peers:
            log("starting the peers (fastkokoro server, kokoro-onnx worker)")
            results["peer_versions"] = peers.ensure_venv()
            voices = peers.voices_npz(root)
            fastkokoro = peers.start_fastkokoro(root, model, voices, threads, logs / "fastkokoro.log")
            started.append(fastkokoro)
            library = peers.KokoroOnnxLibrary(model, voices, threads, logs / "kokoro-onnx.log")
            started.append(library)
        kokoro_fastapi = None
        if config.kokoro_fastapi:
            log(f"starting Kokoro-FastAPI from {config.kokoro_fastapi} (PyTorch CPU, {kfapi.WEIGHTS.name})")
            versions = kfapi.ensure_venv(config.kokoro_fastapi)
            source = versions.pop("Kokoro-FastAPI")
            results.setdefault("peer_versions", {})["Kokoro-FastAPI"] = \
                f"{source} [{'; '.join(f'{k} {v}' for k, v in versions.items() if v)}]"
            kokoro_fastapi = kfapi.start(config.kokoro_fastapi, root, threads, logs / "kokoro-fastapi.log")
            started.append(kokoro_fastapi)
        elif config.kokoro_fastapi_skipped:
            log(f"Kokoro-FastAPI skipped: {config.kokoro_fastapi_skipped}")
        peer_servers = [s for s in (fastkokoro, kokoro_fastapi) if s]
        results["settings"] = {"threads": threads, "ours": [s.env for s in ours],
                               "fastkokoro": "defaults (sentence streaming), same thread count" if fastkokoro else None,
                               "kokoro-fastapi": kokoro_fastapi.env if kokoro_fastapi
                               else config.kokoro_fastapi_skipped or None}

        def http(server: harness.Server, fmt: str, *, rss: bool = True) -> Measure:
            return lambda text: harness.stream_speech(server.url, text, fmt, pid=server.pid if rss else None)

        warm = harness.short_texts()[0]
        for server in [*ours, *peer_servers]:
            for fmt in ("pcm", "mp3"):
                http(server, fmt)(warm)
        if library:
            library.measure(warm)
        floor.run(floor.prepare(warm))

        for words in config.texts:
            text = harness.text_of(words)
            prepared = floor.prepare(text)
            systems = [System("floor", lambda _: floor.run(prepared), "floor")]
            for fmt in formats_for(words, config):
                systems.append(System(f"ours {fmt}", http(ours[0], fmt), "ours"))
            if words < 6000 and fastkokoro and library:
                systems += [System(f"fastkokoro {fmt}", http(fastkokoro, fmt), "peer") for fmt in formats_for(words, config)]
                systems.append(System("kokoro-onnx lib", library.measure, "peer"))
            if words < 6000 and kokoro_fastapi:
                systems += [System(f"kokoro-fastapi {fmt}", http(kokoro_fastapi, fmt), "peer")
                            for fmt in formats_for(words, config)]
            samples: dict[str, list[dict[str, float]]] = {s.name: [] for s in systems}
            for run in range(runs_for(words, config)):
                for system in systems:  # one after the other, interleaved run by run
                    log(f"{words} words, run {run + 1}: {system.name}")
                    samples[system.name].append(system.measure(text))
                    results["raw"]["single"][words] = samples  # kept up to date: an interrupted run keeps it
                    results["single"][words] = {name: summarize_runs(runs) for name, runs in samples.items() if runs}
                    if system.kind == "ours" and words >= 600 and words == max(config.texts):
                        r = samples[system.name][-1]
                        results["memory"][f"over one {words}-word request ({system.name.split()[-1]}, from first "
                                          "byte)"] = rss_trend(r["rss_first_mb"], r["rss_last_mb"], r["rss_peak_mb"])

        if config.clients:
            conc: dict[str, list[tuple[int, dict[str, Any]]]] = {}
            floor_texts = workload(requests_for(1, config))
            floor_prepared = [floor.prepare(t) for t in floor_texts]
            for run in range(config.conc_runs):
                log(f"concurrency run {run + 1}: floor, {len(floor_texts)} requests one after the other")
                floor_runs = [floor.run(p, first_sentence=False) for p in floor_prepared]
                conc.setdefault("floor", []).append((1, {
                    "clients": 1, "requests": len(floor_runs), "wall_s": sum(r["total_s"] for r in floor_runs),
                    "audio_s": sum(r["audio_s"] for r in floor_runs),
                    "throughput": sum(r["audio_s"] for r in floor_runs) / sum(r["total_s"] for r in floor_runs),
                    "latencies_s": [r["total_s"] for r in floor_runs], "ttfas_s": [r["ttfa_s"] for r in floor_runs],
                    "rss_peak_mb": float("nan")}))
                for clients in config.clients:
                    texts = workload(requests_for(clients, config))
                    for server in [*ours, *peer_servers]:
                        log(f"concurrency run {run + 1}: {server.name}, {clients} clients, {len(texts)} requests")
                        result = harness.run_clients(http(server, "pcm", rss=False), texts, clients, pid=server.pid)
                        conc.setdefault(server.name, []).append((clients, result))
            results["raw"]["concurrency"] = conc
            results["concurrency"] = {
                name: {c: summarize_levels([r for cc, r in entries if cc == c])
                       for c in sorted({cc for cc, _ in entries})} for name, entries in conc.items()}
    finally:
        for process in reversed(started):
            (process.close if isinstance(process, peers.KokoroOnnxLibrary) else process.stop)()


def run_soak(config: Config, root: Path, logs: Path, results: dict[str, Any]) -> None:
    """``config.soak`` sequential short requests (mp3, pcm, wav in turn); RSS after each."""
    server = harness.start_ours(root, env=our_env(config, config.server_concurrency[0]), log=logs / "ours-soak.log")
    results["settings"] = {"ours": server.env}
    texts = itertools.cycle(harness.soak_texts())
    formats = itertools.cycle(["mp3", "pcm", "wav"])
    rss: list[float] = []
    latencies: list[float] = []
    start = time.perf_counter()
    try:
        harness.stream_speech(server.url, "Warming up.", "mp3")
        start = time.perf_counter()
        for i in range(config.soak):
            latencies.append(harness.stream_speech(server.url, next(texts), next(formats))["total_s"])
            rss.append(harness.rss_mb(server.pid))
            if i % 50 == 0:
                log(f"soak: {i + 1}/{config.soak} requests, RSS {rss[-1]:.0f} MiB")
            if time.perf_counter() - start > config.soak_max_s:
                log(f"soak: stopped after {config.soak_max_s:.0f} s")
                break
    finally:
        server.stop()
        if rss:  # also when interrupted
            results["soak"] = {"requests": len(rss), "seconds": time.perf_counter() - start, "rss_mb": rss,
                               "latency_p50_s": harness.percentile(latencies, 50),
                               "latency_p95_s": harness.percentile(latencies, 95)}
            results["memory"][f"over {len(rss)} sequential short requests (from the first)"] = \
                rss_trend(rss[0], rss[-1], max(rss))
            warm = len(rss) // 10  # the first requests grow onnxruntime's arena and the caches
            if warm >= 10:
                results["memory"][f"over requests {warm + 1}-{len(rss)} (after {warm} to warm up)"] = \
                    rss_trend(rss[warm], rss[-1], max(rss[warm:]))


def main(argv: Sequence[str] | None = None) -> int:
    config, args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.json) if args.json else harness.BENCH_DIR / "results" / f"run-{stamp}.json"
    logs = harness.BENCH_DIR / "results" / f"logs-{stamp}"
    root = harness.data_dir(args.data_dir)
    results: dict[str, Any] = {"machine": harness.machine(), "config": vars(args), "settings": {},
                               "single": {}, "concurrency": {}, "memory": {}, "soak": {},
                               "raw": {"single": {}}}
    try:
        (run_soak if config.soak else run_suite)(config, root, logs, results)
    except (KeyboardInterrupt, SystemExit) as exc:  # keep what was measured
        if not results["single"] and not results["soak"]:
            raise
        results["interrupted"] = f"{type(exc).__name__} {exc}".strip()
        log(f"interrupted ({results['interrupted']}): writing what was measured")
    results["uptime_after"] = harness.uptime()
    results["ratios"] = {"single": single_ratios(results["single"]),
                         "concurrency": concurrency_ratios(results["concurrency"])}
    results["targets"] = targets(results["single"], results["concurrency"], results["memory"])
    print(render(results))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(plain(results), indent=1, default=str, allow_nan=False))
    print(f"\nresults: {out}; server logs: {logs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
