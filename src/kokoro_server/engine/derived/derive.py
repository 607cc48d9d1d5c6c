"""Making a derived file: apply the wanted recipes, verify, time, save, record (one way for all callers).

The recipes run in memory on the base graph, in registry order. The result is opened as it will
run (onnxruntime's optimized graph saved for this CPU and reloaded with optimizations off, when the
provider allows) and checked against the base on fixed check utterances: the audio must be
bit-identical (every registered automatic recipe is exact) and the durations must add up to it.
When a speed recipe is in, both are timed interleaved and the speed recipes are kept only if the
file is faster here (a slower file first loses its lossy speed recipes and is timed again with the
exact ones alone, then loses those too); a speed recipe that fails the check is dropped, and the rest derived again.
The outcome (the file, what was dropped and why, the figures) goes into the store atomically.

Callers: the server, in a separate low-priority process (``python -m
kokoro_server.engine.derived.derive``, see :mod:`.background`), and `kokoro-server models --derive`
in the foreground. One derivation at a time per model folder (a lock in the store): a second
process waits and then finds the file made.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kokoro_server.engine.base import FRAME_SAMPLES
from kokoro_server.engine.derived.recipes import Recipe, RecipeContext
from kokoro_server.engine.derived.recipes.durations_output import OUTPUT as DURATIONS
from kokoro_server.engine.derived.select import Wanted, wanted_for
from kokoro_server.engine.derived.store import DerivedStore, Entry
from kokoro_server.engine.ort import import_onnxruntime, open_model, open_session
from kokoro_server.engine.providers import PROVIDERS, ExecutionProvider

log = logging.getLogger("kokoro_server.engine")

CHECK_UTTERANCES: tuple[tuple[tuple[int, ...], float], ...] = (
    # v1.0 tokens of "The quick brown fox jumps over the lazy dog." and "What time does the library
    # open on Sunday?" (misaki, no pads), then token runs inside every Kokoro vocabulary, at other speeds
    ((81, 83, 16, 53, 65, 156, 102, 53, 16, 44, 123, 156, 39, 56, 16, 48, 156, 69, 53, 61, 16, 82, 156, 138, 55,
      58, 61, 16, 156, 31, 64, 83, 123, 16, 81, 83, 16, 54, 156, 24, 68, 51, 16, 46, 156, 76, 92, 4), 1.0),
    ((65, 157, 138, 62, 16, 62, 156, 25, 55, 16, 46, 156, 138, 68, 16, 81, 83, 16, 54, 156, 25, 44, 123, 157, 86,
      123, 51, 16, 156, 31, 58, 42, 56, 16, 157, 76, 56, 16, 61, 156, 138, 56, 46, 157, 24, 6), 1.0),
    (tuple(range(43, 55)), 1.0),
    ((50, 16, 83, 156, 16, 102, 57, 16, 135, 68, 4), 1.4),
    (tuple(range(20, 60, 4)), 0.8),
)
"""Token ids and speeds every derived file is checked (and timed) on; bit-identity does not depend on the voice."""


@dataclass(frozen=True)
class Outcome:
    entry: Entry
    path: Path | None  # the derived file (None: nothing better than the base could be made)
    seconds: float
    made: bool  # False: another process had made it already


def check_feeds(session: Any) -> list[dict[str, np.ndarray]]:
    """The check utterances as feeds for ``session``'s input names and types, with a fixed style."""
    inputs = {i.name: i for i in session.get_inputs()}
    token_input = "tokens" if "tokens" in inputs else "input_ids"
    speed_dtype = np.int32 if "int" in inputs["speed"].type else np.float32
    style = np.random.default_rng(15).normal(0.0, 0.15, size=(1, 256)).astype(np.float32)
    return [{token_input: np.array([[0, *tokens, 0]], dtype=np.int64), "style": style,
             "speed": np.array([speed], dtype=speed_dtype)} for tokens, speed in CHECK_UTTERANCES]


def derive(wanted: Wanted, provider: ExecutionProvider, *, threads: int = 1, max_ratio: float = 1.0,
           progress: Callable[[str], None] = log.info) -> Outcome:
    """The derived file ``wanted`` asks for: found in the store, or made now (waiting for another
    process that is making it). Raises OSError when the store cannot be written."""
    store = DerivedStore(wanted.source.parent)
    started = time.perf_counter()
    with store.lock():
        found = store.read(wanted.key, wanted.source)
        if found.entry is not None and (found.path is not None or found.entry.file is None):
            return Outcome(found.entry, found.path, time.perf_counter() - started, False)
        ort = import_onnxruntime()
        entry = _derive(store, wanted, ort, provider, threads, max_ratio, progress)
    path = store.folder / entry.file if entry.file else None
    return Outcome(entry, path, time.perf_counter() - started, True)


def _derive(store: DerivedStore, wanted: Wanted, ort: Any, provider: ExecutionProvider, threads: int,
            max_ratio: float, progress: Callable[[str], None]) -> Entry:
    import onnx

    started = time.perf_counter()
    progress(f"deriving {wanted.source.name}: {wanted.describe()}")
    reference = open_session(ort, wanted.base, provider, threads=threads)
    feeds = check_feeds(reference)
    audio_output = reference.get_outputs()[0].name
    warm_up = min(range(len(CHECK_UTTERANCES)), key=lambda i: len(CHECK_UTTERANCES[i][0]))
    reference.run([audio_output], feeds[warm_up])  # first calls allocate: not timed
    expected: list[np.ndarray] = []
    reference_seconds: list[float] = []
    context = RecipeContext(wanted.source, provider.name, feeds)
    recipes: list[Recipe] = list(wanted.recipes)
    dropped: dict[str, str] = {}
    quality: dict[str, Any] = {}  # lossy recipes' figures, kept when they are dropped too
    while True:
        model = onnx.load(str(wanted.base))  # loaded per attempt: one graph in memory at a time
        applied, summaries, facts, durations_problem = [], [], {}, None
        for recipe in recipes:
            result = recipe.apply(model, context)
            model = result.model
            if result.problem is not None:
                dropped[recipe.id] = result.problem
                if recipe.name == "durations-output":
                    durations_problem = result.problem
                continue
            facts.update(result.facts)
            if result.changed:
                applied.append(recipe.id)
                summaries.append(result.summary)
        has_durations = any(o.name == DURATIONS for o in model.graph.output)
        if durations_problem is None and not has_durations:
            durations_problem = f"{wanted.source.name} has no durations output"
        if not applied and not wanted.graph:  # the base is already what is wanted: record that
            reason = "nothing to derive: " + "; ".join(summaries or dropped.values() or ["it runs as it is"])
            entry = Entry(wanted.key, 0, 0, "", None, applied=[], dropped=dropped, reason=reason,
                          durations_problem=durations_problem, facts={**facts, **quality})
            return store.commit(entry, wanted.source, None)
        data = model.SerializeToString()
        del model
        with store.new_file(wanted.key) as temp:
            if wanted.graph:  # the session saves its optimized graph, which is what runs from now on
                open_session(ort, data, provider, threads=threads, save_to=temp.path)
            else:
                temp.file.write(data)
                temp.file.flush()
            del data  # one graph in memory at a time
            runner = next((r.runner for r in recipes if r.id in applied and r.runner is not None), None)
            candidate = open_model(ort, temp.path, provider, threads=threads, optimize=not wanted.graph, runner=runner)
            candidate.run([audio_output], feeds[warm_up])
            lossy = [r for r in recipes if r.id in applied and not r.exact]
            problem, seconds = _check(reference, candidate, audio_output, feeds, expected, reference_seconds,
                                      has_durations, exact=not lossy)
            for recipe in lossy:  # judged by its own quality bar instead of bit-identity
                passed, figures = recipe.quality_check(reference, candidate, context) if recipe.quality_check \
                    else (False, {"problem": "a lossy recipe needs a quality check"})
                quality[f"{recipe.name}_quality"] = figures
                if not passed and problem is None:
                    problem = f"{recipe.id} failed its quality check ({figures})"
            speed = [r for r in recipes if r.purpose == "speed" and r.id in applied]
            if problem is not None:
                losing = lossy or speed or [r for r in recipes if r.id in applied]
                if not losing:
                    raise RuntimeError(f"the derived graph of {wanted.source.name} fails its check ({problem})")
                for recipe in losing:
                    dropped[recipe.id] = f"failed verification ({problem})"
                    if recipe.name == "durations-output":
                        durations_problem = f"the durations output of {wanted.source.name} failed its check ({problem})"
                recipes = [r for r in recipes if r not in losing]
                progress(f"{', '.join(r.id for r in losing)}: failed verification ({problem}); without")
                continue
            measured: dict[str, Any] = {"check_utterances": len(feeds)}
            if not lossy:
                measured["max_abs_diff"] = 0.0
            if speed:
                ratio = seconds[1] / seconds[0]
                measured.update(reference_seconds=round(seconds[0], 3), derived_seconds=round(seconds[1], 3),
                                ratio=round(ratio, 3))
                if ratio >= max_ratio:
                    # the lossy speed recipes go first (the exact ones are tried again without them), then the rest
                    slower = [r for r in speed if not r.exact] if len(speed) > 1 else speed
                    slower = slower or speed
                    for recipe in slower:
                        dropped[recipe.id] = (f"{'within the quality bar' if lossy else 'bit-identical'} but not "
                                              f"faster on this CPU (x{ratio:.2f} of the model's time with "
                                              f"{', '.join(r.id for r in speed)}); left out")
                    recipes = [r for r in recipes if r not in slower]
                    progress(f"{', '.join(r.id for r in slower)}: not faster here (x{ratio:.2f}); without")
                    continue
            measured["derive_seconds"] = round(time.perf_counter() - started, 2)
            parts = summaries + (["onnxruntime's optimized graph for this CPU"] if wanted.graph else [])
            timing = (f", x{measured['ratio']:.2f} of the model's time measured on this CPU at derivation"
                      if "ratio" in measured else "")
            checked = (f"passed the quality bar ({', '.join(r.id for r in lossy)}: durations identical, log-mel "
                       f"distance to the float reference within the shipped model's) on {len(feeds)} check "
                       "utterances" if lossy else
                       f"audio bit-identical to the model's on {len(feeds)} check utterances")
            reason = f"{'; '.join(parts)}; {checked}{timing}"
            entry = Entry(wanted.key, 0, 0, "", None, applied=applied, dropped=dropped, reason=reason,
                          durations_problem=durations_problem, facts={**facts, **quality, **measured})
            return store.commit(entry, wanted.source, temp)


def _check(reference: Any, candidate: Any, audio_output: str, feeds: Sequence[dict[str, np.ndarray]],
           expected: list[np.ndarray], reference_seconds: list[float], has_durations: bool,
           exact: bool = True) -> tuple[str | None, tuple[float, float]]:
    """The candidate against the reference on every check utterance, interleaved call by call: (None
    when its audio equals the reference's bit for bit (``exact``; else only the same length) and its
    durations add up, else what differs; the seconds of each). The reference's outputs and times are
    kept for the next attempt."""
    outputs = [audio_output] + ([DURATIONS] if has_durations else [])
    spent = 0.0
    for i, feed in enumerate(feeds):
        if len(expected) <= i:
            start = time.perf_counter()
            expected.append(reference.run([audio_output], feed)[0])
            reference_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        got = candidate.run(outputs, feed)
        spent += time.perf_counter() - start
        want = expected[i]
        if got[0].shape != want.shape:
            return "the audio's shape differs", (sum(reference_seconds), spent)
        if exact and not np.array_equal(got[0], want):
            worst = float(np.max(np.abs(got[0].astype(np.float64) - want)))
            return f"the audio differs by up to {worst:.3g}", (sum(reference_seconds), spent)
        if has_durations:
            frames = np.asarray(got[1]).reshape(-1)
            tokens = feed["tokens" if "tokens" in feed else "input_ids"].shape[1]
            if frames.size != tokens or int(frames.sum()) * FRAME_SAMPLES != got[0].size:
                return "the durations do not add up to the audio's length", (sum(reference_seconds), spent)
    return None, (sum(reference_seconds), spent)


# -- the background process ----------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m kokoro_server.engine.derived.derive SOURCE ...``: what a server runs in the
    background, at the lowest CPU priority. Prints one JSON line: the file made and why."""
    parser = argparse.ArgumentParser(prog="python -m kokoro_server.engine.derived.derive")
    parser.add_argument("source", type=Path)
    parser.add_argument("--provider", default="cpu", choices=sorted(PROVIDERS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--fast-model", choices=("true", "false"), default="true")
    parser.add_argument("--use-optimized-model", choices=("true", "false"), default="true")
    parser.add_argument("--exact-model", choices=("true", "false"), default="false")
    parser.add_argument("--save-optimized-graph", choices=("true", "false"), default="true")
    parser.add_argument("--nice", type=int, default=19)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds: temp files are deleted
    try:
        os.nice(args.nice)
    except OSError:
        pass
    from kokoro_server.settings import Settings

    settings = Settings(data_dir=args.source.parent.parent.parent, fast_model=args.fast_model == "true",
                        use_optimized_model=args.use_optimized_model == "true", exact_model=args.exact_model == "true",
                        save_optimized_graph=args.save_optimized_graph == "true")
    ort = import_onnxruntime()
    wanted = wanted_for(args.source, settings, args.provider, ort.__version__)
    outcome = derive(wanted, PROVIDERS[args.provider], threads=args.threads, progress=lambda message: None)
    print(json.dumps({"file": str(outcome.path) if outcome.path else None, "reason": outcome.entry.reason,
                      "seconds": round(outcome.seconds, 1), "made": outcome.made,
                      "dropped": outcome.entry.dropped}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
