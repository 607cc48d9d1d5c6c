"""One process against `kokoro-server cluster` on the same machine: audio seconds per wall second
with 4 and 8 clients, first-audio p50/p95, RSS per replica.

Configurations (interleaved, ``--runs`` rounds):
  single   `kokoro-server serve`, default settings (the whole machine, automatic session layout)
  c1x2     cluster, 1 replica x 2 threads on a local Ray
  c2x1     cluster, 2 replicas x 1 thread on a local Ray
  nodes2   cluster, 2 replicas x 1 thread on a 2-"node" Ray (two raylets of 1 CPU on this machine,
           ray.cluster_utils.Cluster: what `ray start --head` + `ray start --address` make)

A refused request (429: the cluster admits 2 per replica) is retried after 0.5 s and counted.

    python bench/cluster.py --runs 1 --requests 8 --json bench/results/cluster.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import harness
import workload

CONFIGS = ("single", "c1x2", "c2x1", "nodes2")
TEXT_WORDS = 60


def replica_rss_mb() -> list[float]:
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any("ServeReplica" in part for part in process.info["cmdline"] or []):
            found.append(process.memory_info().rss / 2**20)
    return sorted(found)


def measure(url: str, refused: list[int]):
    def run(text: str) -> dict[str, float]:
        while True:
            try:
                return harness.stream_speech(url, text, "pcm")
            except RuntimeError as exc:
                if "HTTP 429" not in str(exc):
                    raise
                refused.append(1)
                time.sleep(0.5)
    return run


def start(config: str, root: Path, logs: Path):
    """The server of ``config`` and what to stop afterwards."""
    if config == "single":
        return harness.start_ours(root, env={}, log=logs / "single.log"), None
    port = harness.free_port()
    args = {"c1x2": ["--replicas", "1", "--threads-per-replica", "2"],
            "c2x1": ["--replicas", "2"], "nodes2": ["--replicas", "2"]}[config]
    ray_cluster = None
    if config == "nodes2":
        from ray.cluster_utils import Cluster

        ray_cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        ray_cluster.add_node(num_cpus=1)
        args += ["--address", ray_cluster.address]
    else:
        args += ["--num-cpus", "2"]
    argv = [sys.executable, "-m", "kokoro_server.cli", "--data-dir", str(root), "cluster", "--port", str(port), *args]
    server = harness.start_server(config, argv, url=f"http://127.0.0.1:{port}", ready_path="/ready", env={},
                                  log=logs / f"{config}.log", timeout=900)
    return server, ray_cluster


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="data dir (default: as the other benchmarks)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--clients", default="4,8")
    parser.add_argument("--requests", type=int, default=8, help="requests per client count")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    root = workload.data_dir(args.data_dir)
    logs = harness.BENCH_DIR / "results" / "cluster-logs"
    text = harness.text_of(TEXT_WORDS)
    rows, results = [], []
    print(f"machine: {workload.machine()}  load: {workload.uptime()}", flush=True)
    for run in range(args.runs):
        for config in args.configs.split(","):
            server, ray_cluster = start(config, root, logs)
            try:
                harness.stream_speech(server.url, "Warm up.", "pcm")
                for clients in (int(c) for c in args.clients.split(",")):
                    refused: list[int] = []
                    result = harness.run_clients(measure(server.url, refused), [text] * args.requests, clients,
                                                 pid=server.pid if config == "single" else None)
                    rss = [harness.rss_mb(server.pid)] if config == "single" else replica_rss_mb()
                    ttfa = result["ttfas_s"]
                    row = [run, config, clients, f"{result['throughput']:.2f}",
                           f"{harness.percentile(ttfa, 50):.2f} / {harness.percentile(ttfa, 95):.2f}",
                           " + ".join(f"{mb:.0f}" for mb in rss), len(refused), workload.uptime()]
                    rows.append(row)
                    results.append({"run": run, "config": config, "clients": clients,
                                    "throughput": result["throughput"], "ttfa_s": ttfa, "rss_mb": rss,
                                    "refused": len(refused), "load": workload.uptime()})
                    print(row, flush=True)
            finally:
                server.stop()
                if ray_cluster is not None:
                    ray_cluster.shutdown()
    workload.print_table(["run", "config", "clients", "audio s/s", "first audio p50/p95 s", "RSS MiB (per replica)",
                          "429s", "load"], rows)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
