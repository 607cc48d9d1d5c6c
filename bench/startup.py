"""Session start-up: from the original model (optimizing it) vs from the saved optimized graph.

    python bench/startup.py [--runs 7] [--json bench/results/startup.json]

Times ``OnnxBackend(...)`` (one 1-thread session) in fresh states, alternating: ``original``
(no saved graph: onnxruntime optimizes the model), ``first start`` (optimizes and saves the graph),
``saved graph`` (verifies and loads the saved graph with the optimizers off). Medians of ``--runs``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import workload


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--data-dir", help="data dir holding the embedded model (default: a temp dir)")
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()

    from kokoro_server.engine.graph_cache import FOLDER
    from kokoro_server.engine.onnx_runtime import OnnxBackend

    source = workload.model_path(workload.data_dir(args.data_dir))
    folder = Path(tempfile.mkdtemp(prefix="kokoro-startup-"))
    model = folder / source.name
    shutil.copy(source, model)
    OnnxBackend(model, sessions=1, threads=1).close()  # warm the page cache and the library
    times: dict[str, list[float]] = {"original": [], "first start (optimize + save)": [], "saved graph": []}
    for run in range(args.runs):
        times["original"].append(workload.timed(lambda: OnnxBackend(model, threads=1, save_graph=False))[0])
        shutil.rmtree(folder / FOLDER, ignore_errors=True)
        times["first start (optimize + save)"].append(workload.timed(lambda: OnnxBackend(model, threads=1))[0])
        seconds, backend = workload.timed(lambda: OnnxBackend(model, threads=1))
        assert backend.graph_origin.startswith("loaded"), backend.graph_origin
        times["saved graph"].append(seconds)
    shutil.rmtree(folder)
    info = workload.machine()
    print(f"\nsession start-up (one 1-thread session), median of {args.runs}; {info['cpu']}, {info['cores']} cores, "
          f"load {info['load']}, onnxruntime {info['onnxruntime']}, {info['date']}")
    workload.print_table(["start", "median s", "min s", "max s"],
                         [[k, workload.median(v), min(v), max(v)] for k, v in times.items()])
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": info, "times_s": times}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
