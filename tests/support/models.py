"""The model files the default settings run, derived once per test session.

This is the ONE place the session fixtures know how the engine derives model files (the
derived-model store, ``engine/derived/``): with the default settings a server runs the derived file
of the embedded int8 model (the durations output added and, where it verifies, its convolutions on
the u8 x s8 GEMM, bit-identical), saved in ``models/v1_0/.derived/``. A server derives it in the
background after its first load; the tests derive it once here instead, into the session data
dir's ``models/`` folder, which every server and subprocess of the session links
(``tests/support/server.py``), so each of them finds it made and runs it from its first request
(``KOKORO_DERIVE=off`` in conftest stops servers of fresh data dirs from deriving again; the
background derivation itself is tested in ``tests/test_first_run.py``).

The speed recipe is kept whatever its timing said: the timing is measured on a shared, noisy test
machine, and the suite must cover the path that users of a CPU where it is faster get. Where it does
not verify on this CPU (not bit-identical), the file holds the durations output only, as it would
for users.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FAST_RECIPE = "lossless-int8-gemm"


@dataclass(frozen=True)
class DefaultModels:
    data_dir: Path  # the data dir whose models/ holds them
    source: Path  # the embedded int8 model, assembled into models/v1_0/
    runs: Path  # the derived file a server with the default settings runs
    applied: tuple[str, ...]  # the recipes that file holds
    reason: str  # why it runs (what `kokoro-server models` prints)

    @property
    def exact(self) -> bool:
        """Every recipe in the file keeps the audio bit-identical (a lossy one, e.g. the native kernels
        where the quality bar passed on this CPU, keeps only the durations and the bar's distance)."""
        from kokoro_server.engine.derived.recipes import RECIPES

        return all(RECIPES[rid.split("/", 1)[0]].exact for rid in self.applied)

    @property
    def variant_runs(self) -> bool:
        """The fast (u8 x s8 GEMM) recipe verified on this CPU and is in the file that runs."""
        return any(recipe.startswith(FAST_RECIPE) for recipe in self.applied)


def derive_default_models(root: Path) -> DefaultModels:
    """Assemble the embedded v1.0 model under ``root/models/v1_0`` and derive what the defaults run."""
    from kokoro_server.builds import get_build
    from kokoro_server.datadir import DataDir
    from tests.support.derived import derived

    source = DataDir(root).assemble_embedded(get_build("v1_0"))
    outcome = derived(source)
    if outcome.path is None:
        raise RuntimeError(f"no derived file could be made of {source}: {outcome.entry.reason}")
    return DefaultModels(root, source, outcome.path, tuple(outcome.entry.applied), outcome.entry.reason)
