"""Session start-up: from the original model (optimizing it) vs from the derived file (onnxruntime's
optimized graph, saved in the derived-model store).

    python bench/startup.py [--runs 7] [--json bench/results/startup.json]

Times ``OnnxBackend(...)`` (one 1-thread session), alternating: ``original`` (onnxruntime optimizes
the model), ``derived file`` (the store's file for this CPU: the durations output, the graph saved
optimized, loaded with the optimizers off; made once before the runs). Medians of ``--runs``.
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

    from kokoro_server.engine.derived.derive import derive
    from kokoro_server.engine.derived.select import wanted_for
    from kokoro_server.engine.onnx_runtime import ModelFile, OnnxBackend
    from kokoro_server.engine.ort import import_onnxruntime
    from kokoro_server.engine.providers import CPU
    from kokoro_server.settings import Settings

    source = workload.model_path(workload.data_dir(args.data_dir))
    folder = Path(tempfile.mkdtemp(prefix="kokoro-startup-"))
    model = folder / source.name
    shutil.copy(source, model)
    OnnxBackend(model, sessions=1, threads=1).close()  # warm the page cache and the library
    wanted = wanted_for(model, Settings(data_dir=folder, fast_model=False), CPU.name, import_onnxruntime().__version__)
    derived = ModelFile(derive(wanted, CPU, threads=1).path, optimized=True)
    times: dict[str, list[float]] = {"original": [], "derived file": []}
    for run in range(args.runs):
        times["original"].append(workload.timed(lambda: OnnxBackend(model, threads=1))[0])
        times["derived file"].append(workload.timed(lambda: OnnxBackend(derived, threads=1))[0])
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
