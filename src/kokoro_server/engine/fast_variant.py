"""The fast variant of an ONNX model: derived, verified and timed once per model, runtime and CPU.

:mod:`kokoro_server.optimize.lossless` rewrites the int8 export's convolutions so that they compute
the same integers on onnxruntime's fast u8 x s8 GEMM. Before a server runs the rewritten file it
derives it once (about 2 s of graph surgery), checks that it gives bit-identical outputs to the
source on check utterances, and times both, interleaved, on this CPU: the variant is kept only if
it verifies and is faster here. The outcome, kept or not and why, is recorded in a manifest in
``models/<version>/.variants/`` keyed by the source file (size, mtime, SHA-256), the recipe, the
onnxruntime version and the CPU's features; a later start reads the decision instead of deriving
again. A manifest that is stale (another source, runtime, CPU or recipe), unreadable, or whose
variant file is missing or corrupt, is derived again. Any failure leaves the source in use.
``KOKORO_FAST_MODEL=false`` turns this off. Deriving needs the ``onnx`` package.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kokoro_server.engine.graph_cache import cpu_signature
from kokoro_server.files import file_sha256, unchanged, write_atomic

log = logging.getLogger("kokoro_server.engine")

RECIPE = "lossless-int8-gemm/2"
FOLDER = ".variants"
# Check utterances: the v1.0 tokens of "The quick brown fox jumps over the lazy dog." and of
# "What time does the library open on Sunday?" (phonemized by misaki, no pads), with a fixed
# pseudo-random style; bit-identity does not depend on the voice.
CHECK_TOKENS = (
    [81, 83, 16, 53, 65, 156, 102, 53, 16, 44, 123, 156, 39, 56, 16, 48, 156, 69, 53, 61, 16, 82, 156, 138, 55,
     58, 61, 16, 156, 31, 64, 83, 123, 16, 81, 83, 16, 54, 156, 24, 68, 51, 16, 46, 156, 76, 92, 4],
    [65, 157, 138, 62, 16, 62, 156, 25, 55, 16, 46, 156, 138, 68, 16, 81, 83, 16, 54, 156, 25, 44, 123, 157, 86,
     123, 51, 16, 156, 31, 58, 42, 56, 16, 157, 76, 56, 16, 61, 156, 138, 56, 46, 157, 24, 6],
)
TIMING_ROUNDS = 1


@dataclass
class VariantManifest:
    recipe: str
    source_file: str
    source_size: int
    source_mtime_ns: int
    source_sha256: str
    onnxruntime: str
    cpu: str
    decision: str  # "variant" or "source"
    reason: str
    variant_file: str | None = None
    variant_size: int = 0
    variant_sha256: str = ""
    measured: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


@dataclass(frozen=True)
class Choice:
    """The file to run and why (shown by ``kokoro-server models`` and logged at load)."""

    path: Path
    variant: str | None  # the recipe, when the variant runs
    reason: str


def manifest_path(source: Path) -> Path:
    return source.parent / FOLDER / f"{source.name}.json"


def choose(source: Path, ort: Any, *, enabled: bool = True, derive: bool = True, threads: int = 0,
           max_ratio: float = 1.0) -> Choice:
    """The fast variant of ``source`` if it is recorded as verified and faster here (deriving and
    recording it first if ``derive`` and no valid record exists), else ``source``. The variant is
    kept when its time over the source's, measured at derivation, is below ``max_ratio``."""
    if not enabled:
        return Choice(source, None, "the fast variant is off (KOKORO_FAST_MODEL=false)")
    manifest = _current(source, ort.__version__)
    if manifest is None and derive:
        manifest = _derive(source, ort, threads, max_ratio)
    if manifest is None:
        return Choice(source, None, "no fast variant derived yet (it is derived when the model loads)")
    if manifest.decision == "variant" and manifest.variant_file:
        return Choice(source.parent / FOLDER / manifest.variant_file, RECIPE, manifest.reason)
    return Choice(source, None, manifest.reason)


def _current(source: Path, ort_version: str) -> VariantManifest | None:
    """The recorded decision for ``source`` if it belongs to this file, runtime, CPU and recipe and
    its variant file verifies; None otherwise (logged)."""
    path = manifest_path(source)
    try:
        manifest = VariantManifest(**json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        log.warning("%s is unreadable; deriving the fast variant again", path)
        return None
    problem = None
    try:
        if (manifest.recipe, manifest.onnxruntime, manifest.cpu) != (RECIPE, ort_version, cpu_signature()):
            problem = "it was made by another recipe, onnxruntime version or CPU"
        elif not unchanged(source, manifest.source_size, manifest.source_mtime_ns, manifest.source_sha256):
            problem = f"{source.name} changed since"
        elif manifest.decision == "variant":
            variant = path.parent / str(manifest.variant_file)
            if "/" in str(manifest.variant_file) or variant.stat().st_size != manifest.variant_size \
                    or file_sha256(variant) != manifest.variant_sha256:
                problem = "its file is corrupt (size or SHA-256 differ)"
    except OSError as exc:
        problem = f"it cannot be read ({exc.strerror})"
    if problem is None:
        return manifest
    log.warning("the fast variant of %s is stale: %s; deriving it again", source.name, problem)
    return None


def _derive(source: Path, ort: Any, threads: int, max_ratio: float) -> VariantManifest | None:
    """Rewrite, verify, time and record; None when nothing could be recorded (not writable)."""
    started = time.perf_counter()
    folder = source.parent / FOLDER
    stat = source.stat()
    base = dict(recipe=RECIPE, source_file=source.name, source_size=stat.st_size, source_mtime_ns=stat.st_mtime_ns,
                source_sha256=file_sha256(source), onnxruntime=ort.__version__, cpu=cpu_signature())
    try:
        import onnx

        from kokoro_server.optimize.lossless import rewrite
    except ImportError:
        log.info("the fast variant of %s needs the onnx package (pip install onnx); running it as it is",
                 source.name)
        return None
    try:
        folder.mkdir(exist_ok=True)  # not writable: nothing to derive for
        try:
            loaded = onnx.load(str(source))
        except Exception as exc:  # noqa: BLE001  a corrupt file: the backend reports it, naming the file
            log.warning("cannot read %s to derive its fast variant (%s); running it as it is", source.name, exc)
            return None
        rewritten = rewrite(loaded)
        if not rewritten.changed:
            manifest = VariantManifest(**base, decision="source",
                                       reason="no uint8 ConvInteger or square to rewrite: the model runs as it is")
        else:
            data = rewritten.model.SerializeToString()
            summary, convs, squares = rewritten.summary(), rewritten.convs, rewritten.squares
            del rewritten
            manifest = _verify(source, data, summary, base, ort, threads, max_ratio)
            manifest.measured.update(convs=convs, squares=squares)
            if manifest.decision == "variant":
                name = f"{source.stem}.{RECIPE.replace('/', '-')}.{manifest.variant_sha256[:12]}.onnx"
                write_atomic(folder / name, data)
                manifest.variant_file = name
        manifest.measured["derive_seconds"] = round(time.perf_counter() - started, 2)
        for old in folder.glob(f"{source.stem}.*.onnx"):
            if old.name != manifest.variant_file:
                old.unlink(missing_ok=True)
        write_atomic(manifest_path(source), manifest.to_json().encode())
    except OSError as exc:
        log.info("cannot record the fast variant of %s (%s); running it as it is", source.name, exc.strerror)
        return None
    log.info("fast variant of %s: %s (%.1f s)", source.name, manifest.reason, manifest.measured["derive_seconds"])
    return manifest


def _verify(source: Path, data: bytes, summary: str, base: dict[str, Any], ort: Any, threads: int,
            max_ratio: float) -> VariantManifest:
    """Outputs of the variant against the source on the check utterances, then both timed interleaved."""
    import hashlib

    sessions = [_session(ort, str(source), threads), _session(ort, data, threads)]
    rng = np.random.default_rng(0)
    feeds = [{"tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
              "style": (rng.standard_normal((1, 256)) * 0.2).astype(np.float32),
              "speed": np.array([1.0], dtype=np.float32)} for tokens in CHECK_TOKENS]
    worst = 0.0
    for feed in feeds:
        expected, got = (s.run(None, feed) for s in sessions)
        if len(expected) != len(got) or any(a.shape != b.shape for a, b in zip(expected, got)):
            return VariantManifest(**base, decision="source",
                                   reason="the fast variant failed verification (output shapes differ); running the original")
        worst = max([worst] + [float(np.max(np.abs(a.astype(np.float64) - b))) if a.size else 0.0
                               for a, b in zip(expected, got)])
    measured: dict[str, object] = {"check_utterances": len(feeds), "max_abs_diff": worst}
    if worst != 0.0:
        return VariantManifest(**base, decision="source", measured=measured,
                               reason=f"the fast variant failed verification (outputs differ by up to {worst:.3g}); "
                                      "running the original")
    seconds = [0.0, 0.0]
    for _ in range(TIMING_ROUNDS):
        for feed in feeds:
            for i, session in enumerate(sessions):
                start = time.perf_counter()
                session.run(None, feed)
                seconds[i] += time.perf_counter() - start
    ratio = seconds[1] / seconds[0]
    measured.update(source_seconds=round(seconds[0], 3), variant_seconds=round(seconds[1], 3), ratio=round(ratio, 3))
    if ratio >= max_ratio:
        return VariantManifest(**base, decision="source", measured=measured,
                               reason=f"the fast variant is bit-identical but not faster on this CPU "
                                      f"(x{ratio:.2f} of the original's time); running the original")
    return VariantManifest(**base, decision="variant", measured=measured, variant_size=len(data),
                           variant_sha256=hashlib.sha256(data).hexdigest(),
                           reason=f"{summary}, outputs bit-identical on "
                                  f"{len(feeds)} check utterances, x{ratio:.2f} of the original's time "
                                  "measured on this CPU at derivation")


def _session(ort: Any, model: str | bytes, threads: int) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or (os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.enable_mem_pattern = False
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
