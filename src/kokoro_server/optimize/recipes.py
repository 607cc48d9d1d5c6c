"""Derived-model recipes judged by the quality bar: what each makes, where it can run, how to open it.

A recipe turns the installed int8 model into something faster that renders the same utterances:

* :data:`NATIVE` (``native-generator/1``, :mod:`kokoro_server.optimize.native_generator`): a
  folder of three onnxruntime parts and the vocoder blocks' parameters, run by the native kernels
  (``kokoro_native``); needs the package and a CPU with a fast path for its int8 conv;
* :data:`CALIBRATED` (``calibrated-int8/1``, :mod:`kokoro_server.optimize.calibrated`): one ONNX
  file with the conv groups that :data:`~kokoro_server.optimize.calibrated.PLANS` lists for this CPU
  kind as static int8; it needs calibration inputs (the service's front end and voices).

A derived-model store plugs a recipe in with four calls: ``available()`` (None, or why not here),
``derive(source, folder, **inputs)`` (writes the folder, returns facts for the manifest),
:func:`judge` (the bar's verdict, recorded in the manifest with the CPU kind; install only when it
passed), and ``open(folder, threads)`` (an object with onnxruntime's ``get_inputs``,
``get_outputs`` and ``run(None, feeds)``). ``version`` changes whenever a recipe's output could
change (the native kernels' ABI is part of it), which retires what an older one derived.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kokoro_server.optimize import calibrated, native_generator
from kokoro_server.optimize.bar import CheckUtterance, QualityBar, Verdict, onnx_session


@dataclass(frozen=True)
class Recipe:
    name: str
    available: Callable[[], str | None]
    derive: Callable[..., dict[str, object]]
    open: Callable[[Path, int], Any]
    needs_calibration: bool = False

    @property
    def version(self) -> str:
        """The recipe with what its output depends on (the native kernels' ABI, the CPU kind's plan)."""
        if self is NATIVE:
            try:
                import kokoro_native

                return f"{self.name}+kernels.{kokoro_native.ABI}"
            except ImportError:
                return self.name
        if self is CALIBRATED:
            return f"{self.name}+{calibrated.cpu_kind()}:{','.join(calibrated.plan_for_this_cpu()) or 'none'}"
        return self.name


def _derive_calibrated(source: Path, folder: Path, *, calibration_feeds: Sequence[dict], threads: int = 2) -> dict[str, object]:
    plan = calibrated.plan_for_this_cpu()
    data = calibrated.Calibration.measure(source, calibration_feeds, threads).build(plan)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(data)
    return {"recipe": calibrated.RECIPE, "cpu_kind": calibrated.cpu_kind(), "static_groups": list(plan),
            "files": ["model.onnx"]}


def _calibrated_available() -> str | None:
    if not calibrated.plan_for_this_cpu():
        return (f"no static int8 layer passed the quality bar on this CPU kind ({calibrated.cpu_kind()}); "
                "see bench/README.md")
    return None


NATIVE = Recipe(native_generator.RECIPE, native_generator.native_available, native_generator.derive,
                lambda folder, threads: native_generator.NativeGeneratorSession(folder, threads))
CALIBRATED = Recipe(calibrated.RECIPE, _calibrated_available, _derive_calibrated,
                    lambda folder, threads: onnx_session(folder / "model.onnx", threads), needs_calibration=True)
RECIPES: tuple[Recipe, ...] = (NATIVE, CALIBRATED)
"""Fastest first (measured: bench/README.md)."""


def judge(recipe: Recipe, source: Path, folder: Path, utterances: Sequence[CheckUtterance], *, threads: int = 2,
          listen: bool | None = False, cache: Path | None = None) -> Verdict:
    """The quality bar's verdict on what ``recipe`` derived into ``folder``."""
    bar = QualityBar(source, utterances, threads=threads, listen=listen, cache=cache)
    session = recipe.open(folder, threads)
    return bar.judge(recipe.version, lambda u: session.run(None, u.feeds())[0].reshape(-1))
