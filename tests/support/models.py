"""The model files the default settings run, derived once per test session.

This is the ONE place the tests know how the engine derives model files (today
``engine/fast_variant.py`` and ``engine/durations_model.py``): with the default settings a server
runs the *fast variant* of the embedded int8 model (its convolutions on the u8 x s8 GEMM, checked
bit-identical) with the *durations* output added. Deriving them takes about a minute on a 2-core
machine, so the session derives them once, into the session data dir's ``models/`` folder, which
every server and subprocess of the session links (``tests/support/server.py``) and reuses. Where
the engine's derived-model mechanism changes, adapt this module only.

The variant is kept whatever its timing said: the timing is measured on a shared, noisy test
machine, and the suite must cover the path that users of a CPU where the variant is faster get.
Where it does not verify on this CPU (not bit-identical), the original runs, as it would for users:
the default path is then the plain model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DefaultModels:
    data_dir: Path  # the data dir whose models/ holds them
    source: Path  # the embedded int8 model, assembled into models/v1_0/
    fast: Path | None  # its fast variant, or None where it does not verify on this CPU
    runs: Path  # the file a server with the default settings runs (fast variant + durations output)
    reason: str  # why (what `kokoro-server models` prints as the variant's reason)

    @property
    def variant_runs(self) -> bool:
        return self.fast is not None


def derive_default_models(root: Path) -> DefaultModels:
    """Assemble the embedded v1.0 model under ``root/models/v1_0`` and derive what the defaults run."""
    from kokoro_server.builds import get_build
    from kokoro_server.datadir import DataDir
    from kokoro_server.engine import fast_variant
    from kokoro_server.engine.durations_model import with_durations
    from kokoro_server.engine.onnx_runtime import import_onnxruntime

    source = DataDir(root).assemble_embedded(get_build("v1_0"))
    choice = fast_variant.choose(source, import_onnxruntime(), max_ratio=float("inf"))
    timed = with_durations(choice.path, threads=2)
    if not timed.has_durations:
        raise RuntimeError(f"the durations variant of {choice.path} could not be derived: {timed.problem}")
    return DefaultModels(root, source, choice.path if choice.variant else None, timed.path, choice.reason)
