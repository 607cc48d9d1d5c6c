"""A first run, measured: `say` on a fresh data dir, the derived file folded into one, and what the
background derivation costs the requests a server answers meanwhile.

    python bench/first_run.py say [--runs 3] [--executables A/bin/kokoro-server B/bin/kokoro-server]
    python bench/first_run.py fold [--rounds 3]       # one derived file vs the fast file alone: audio, speed
    python bench/first_run.py background [--port 9250]  # request latency and event-loop lag while deriving

``say``: each run makes a fresh KOKORO_DATA_DIR, runs ``say`` twice (cold: the embedded model assembled,
nothing derived; warm: the same dir again) and prints wall seconds and the CPU seconds of the process
(user + system: what a shared machine's load does not inflate).

``fold``: the model as installed, the fast file alone (lossless int8 GEMM, saved as onnxruntime's
graph) and the store's one derived file (durations output + lossless int8 GEMM, saved as the graph);
checks that both give bit-identical audio to the model's and times all three interleaved call by call.

``background``: two servers in turn on fresh data dirs, ``KOKORO_DERIVE=off`` (control) then
``background``; each answers the same request back to back while ``/health`` is polled every 50 ms
(the event loop's lag); prints latencies while the derivation runs, after the derived file took over,
and the control's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import harness
import workload

REPO = Path(__file__).resolve().parent.parent


def fresh_data_dir(parent: Path, name: str) -> Path:
    """A data dir with nothing derived: v1.0 voices linked from the shared assets, no model."""
    root = parent / name
    (root / "voices").mkdir(parents=True)
    (root / "voices" / "v1_0").symlink_to(workload.ASSETS / "voices" / "v1_0", target_is_directory=True)
    return root


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cmd_say(args: argparse.Namespace) -> int:
    scratch = Path(tempfile.mkdtemp(prefix="kokoro-first-say-"))
    commands = {exe: [exe] for exe in args.executables} or {"this venv": [sys.executable, "-m", "kokoro_server.cli"]}
    rows = []
    for run in range(args.runs):
        order = list(commands) if run % 2 == 0 else list(reversed(commands))  # alternated run by run
        for index, label in enumerate(order):
            folder = scratch / f"run{run}-{index}"
            env = {**os.environ, "KOKORO_DATA_DIR": str(folder)}
            for state in ("cold", "warm"):
                wall, cpu = time.perf_counter(), cpu_children()
                subprocess.run([*commands[label], "say", "Hello.", "-q", "-o", str(scratch / "x.wav")], env=env,
                               check=True)
                rows.append({"command": label, "run": run, "state": state, "wall_s": time.perf_counter() - wall,
                             "cpu_s": cpu_children() - cpu})
            rows[-1]["disk_mb"] = sum(p.stat().st_size for p in folder.rglob("*")
                                      if p.is_file() and not p.is_symlink()) / 1e6
    info = workload.machine()
    print(f"\nkokoro-server say \"Hello.\" on a fresh data dir; {info['cpu']}, {info['cores']} cores, load "
          f"{info['load']}, {info['date']}")
    table = []
    for label in commands:
        for state in ("cold", "warm"):
            mine = [r for r in rows if r["command"] == label and r["state"] == state]
            table.append([label, state, workload.median([r["wall_s"] for r in mine]),
                          workload.median([r["cpu_s"] for r in mine]), min(r["wall_s"] for r in mine),
                          max(r["wall_s"] for r in mine),
                          workload.median([r.get("disk_mb", 0.0) for r in mine]) if state == "warm" else ""])
    workload.print_table(["command", "state", "median wall s", "median CPU s", "min wall s", "max wall s",
                          "data dir MB"], table)
    shutil.rmtree(scratch)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "runs": rows}, indent=2))
    return 0


def cmd_fold(args: argparse.Namespace) -> int:
    import numpy as np
    import onnx

    from kokoro_server.engine.derived.recipes.durations_output import add_durations_output
    from kokoro_server.engine.derived.recipes.lossless_int8_gemm import rewrite

    root = workload.data_dir(args.data_dir)
    source = workload.model_path(root)
    scratch = Path(tempfile.mkdtemp(prefix="kokoro-fold-"))
    fast = rewrite(onnx.load(str(source))).model
    folded = rewrite(add_durations_output(onnx.load(str(source))).model).model
    files = {}
    for label, model in (("fast file alone", fast), ("one derived file (+ durations)", folded)):
        raw = scratch / f"{len(files)}.onnx"
        onnx.save(model, str(raw))
        files[label] = scratch / f"{len(files)}.graph.onnx"
        workload.open_session(raw, args.threads, optimized_out=files[label])  # saves onnxruntime's graph
    sessions = {"as installed": workload.open_session(source, args.threads)}
    sessions.update({label: graph_session(path, args.threads) for label, path in files.items()})
    utterances = workload.utterances(root, args.voice, [int(t) for t in args.tokens.split(",")])
    seconds = dict.fromkeys(sessions, 0.0)
    identical = dict.fromkeys(files, True)
    for u in utterances:  # warm-up and the check: every file's audio against the model's
        feeds = {"tokens": np.array([[0, *u.tokens, 0]], dtype=np.int64), "style": u.style,
                 "speed": np.array([1.0], dtype=np.float32)}
        expected = sessions["as installed"].run(["audio"], feeds)[0]
        for label in files:
            identical[label] &= bool(np.array_equal(sessions[label].run(["audio"], feeds)[0], expected))
    for round_ in range(args.rounds):
        for i, u in enumerate(utterances):
            feeds = {"tokens": np.array([[0, *u.tokens, 0]], dtype=np.int64), "style": u.style,
                     "speed": np.array([1.0], dtype=np.float32)}
            order = list(sessions) if (round_ + i) % 2 == 0 else list(reversed(sessions))
            for label in order:
                start = time.perf_counter()
                sessions[label].run(["audio"], feeds)
                seconds[label] += time.perf_counter() - start
    info = workload.machine()
    print(f"\nfolding: {len(utterances)} utterances x {args.rounds} rounds, {args.threads} thread(s), interleaved; "
          f"{info['cpu']}, load {info['load']}, onnxruntime {info['onnxruntime']}, {info['date']}")
    base = seconds["as installed"]
    workload.print_table(["file", "seconds", "x model", "audio = model's", "MB"],
                         [[label, s, s / base, identical.get(label, True),
                           (files[label] if label in files else source).stat().st_size / 1e6]
                          for label, s in seconds.items()])
    ratio = seconds["one derived file (+ durations)"] / seconds["fast file alone"]
    print(f"one derived file / fast file alone: x{ratio:.3f}")
    shutil.rmtree(scratch)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "seconds": seconds, "identical": identical}, indent=2))
    return 0


def graph_session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def free_port(preferred: int) -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]


def serve_and_measure(root: Path, derive: str, port: int, requests: int, text: str, after: int) -> dict:
    import httpx

    env = {"KOKORO_DATA_DIR": str(root), "KOKORO_DERIVE": derive, "KOKORO_FAST_MODEL": "true",
           "KOKORO_PRELOAD": "v1_0", "KOKORO_PORT": str(port)}
    url = f"http://127.0.0.1:{port}"
    server = harness.start_server(f"derive={derive}", [sys.executable, "-m", "kokoro_server.cli", "serve",
                                                       "--log-level", "warning"],
                                  url=url, ready_path="/ready", env=env, log=root / "serve.log")
    lags: list[tuple[float, bool]] = []
    deriving = threading.Event()
    stop = threading.Event()
    try:
        def poll() -> None:
            with httpx.Client(base_url=url, timeout=30) as client:
                while not stop.is_set():
                    start = time.perf_counter()
                    client.get("/health")
                    lags.append((time.perf_counter() - start, deriving.is_set()))
                    time.sleep(0.05)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        latencies: list[tuple[float, str]] = []
        left_after = after
        with httpx.Client(base_url=url, timeout=600) as client:
            while True:
                state = client.get("/v1/models/kokoro").json()
                runs, derivation = state.get("runs") or "", state.get("derivation") or ""
                phase = "deriving" if derivation.startswith("deriving") else \
                    "derived file" if "/.derived/" in runs else "as installed"
                deriving.set() if phase == "deriving" else deriving.clear()
                start = time.perf_counter()
                response = client.post("/v1/audio/speech", json={"input": text, "voice": "af_heart",
                                                                  "response_format": "pcm"})
                assert response.status_code == 200, response.text
                latencies.append((time.perf_counter() - start, phase))
                if derive == "off" and len(latencies) >= requests:
                    break
                if phase == "derived file":
                    left_after -= 1
                    if left_after <= 0:
                        break
                if len(latencies) > 400:
                    break
        stop.set()
        poller.join()
    finally:
        server.stop()
    return {"latencies": latencies, "lags": lags}


def cmd_background(args: argparse.Namespace) -> int:
    scratch = Path(tempfile.mkdtemp(prefix="kokoro-background-"))
    text = "The harbour town woke slowly on the first morning of spring."
    port = free_port(args.port)
    control = serve_and_measure(fresh_data_dir(scratch, "off"), "off", port, args.requests, text, 0)
    measured = serve_and_measure(fresh_data_dir(scratch, "background"), "background", port, args.requests, text,
                                 args.requests)
    info = workload.machine()
    print(f"\nbackground derivation: one request at a time ({text!r}), /health every 50 ms; {info['cpu']}, "
          f"{info['cores']} cores, load {info['load']}, {info['date']}")
    rows = []
    for label, run, phase in (("control (KOKORO_DERIVE=off)", control, "as installed"),
                              ("while deriving", measured, "deriving"),
                              ("after the derived file took over", measured, "derived file")):
        values = [s for s, p in run["latencies"] if p == phase]
        lags = [s for s, d in run["lags"] if d == (phase == "deriving")] if run is measured else \
            [s for s, _ in run["lags"]]
        if values:
            rows.append([label, len(values), statistics.median(values), max(values),
                         statistics.median(lags) * 1000 if lags else 0.0, max(lags) * 1000 if lags else 0.0])
    workload.print_table(["phase", "requests", "median s", "max s", "/health median ms", "/health max ms"], rows)
    shutil.rmtree(scratch)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "control": control, "background": measured}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    say = sub.add_parser("say")
    say.add_argument("--runs", type=int, default=3)
    say.add_argument("--executables", nargs="*", default=[],
                     help="kokoro-server executables to compare (e.g. two venvs' bin/kokoro-server), alternated")
    say.set_defaults(func=cmd_say)
    fold = sub.add_parser("fold")
    fold.add_argument("--rounds", type=int, default=3)
    fold.add_argument("--threads", type=int, default=1)
    fold.add_argument("--tokens", default="40,120,250")
    fold.add_argument("--voice", default="af_heart")
    fold.add_argument("--data-dir")
    fold.set_defaults(func=cmd_fold)
    background = sub.add_parser("background")
    background.add_argument("--port", type=int, default=9250)
    background.add_argument("--requests", type=int, default=8)
    background.set_defaults(func=cmd_background)
    for command in (say, fold, background):
        command.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
