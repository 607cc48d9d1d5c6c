"""Choose which conv groups go static int8 on this CPU kind: the quality bar's distance decides.

    python bench/calibrate.py [--subset 0,5,9,13] [--threads 2] [--json FILE] [--data-dir DIR]

Calibrates activation ranges on :data:`kokoro_server.engine.derived.recipes.calibrated_int8.CALIBRATION_SET`, makes
each group of :data:`~kokoro_server.engine.derived.recipes.calibrated_int8.GROUPS` static on its own and measures the
log-mel distance to the float reference on a subset of the bar's check set, then adds the groups
in order of that distance while the subset stays inside the bar (minus a safety margin)
(:func:`kokoro_server.engine.derived.recipes.calibrated_int8.search`). The chosen plan is then judged by the full bar
(16 utterances, Whisper, DNSMOS). Prints every step; record the plan in ``PLANS`` for this CPU kind.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import workload
from quality import bar_options, open_bar


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", default="0,8,12", help="check-set utterances the search renders")
    bar_options(parser)
    args = parser.parse_args()

    from kokoro_server.engine.derived.quality.bar import figures_table, onnx_renderer
    from kokoro_server.engine.derived.recipes import calibrated_int8 as calibrated
    from kokoro_server.optimize.check_set import check_utterances

    _, source, service, bar = open_bar(args)
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    started = time.perf_counter()
    calibration = calibrated.Calibration.measure(
        source, [u.feeds() for u in check_utterances(service, calibrated.CALIBRATION_SET)], args.threads)
    say(f"calibrated in {time.perf_counter() - started:.0f} s")
    subset = [int(i) for i in args.subset.split(",")]
    chosen, steps = calibrated.search(calibration, bar, subset, args.threads, progress=say)
    verdicts = [bar.judge("static-all", onnx_renderer(calibration.build(tuple(calibrated.GROUPS)), args.threads))]
    if chosen:
        verdicts.append(bar.judge("calibrated: " + ", ".join(chosen), onnx_renderer(calibration.build(chosen), args.threads)))
    info = workload.machine()
    print(f"\nsearch on check utterances {subset} ({info['cpu']}, {calibrated.int8_kind()})")
    workload.print_table(["groups", "mean dB", "max dB", "durations", "kept"],
                         [[" + ".join(s.groups), f"{s.mean_db:.3f}", f"{s.max_db:.3f}", s.durations, s.kept] for s in steps])
    print(f"\nchosen: {chosen or 'nothing'}\n")
    workload.print_table(*figures_table(verdicts))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": info, "cpu": calibrated.int8_kind(), "chosen": chosen,
                                               "steps": [s.__dict__ for s in steps],
                                               "verdicts": [v.record() for v in verdicts]}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
