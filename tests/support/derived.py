"""Derived model files for tests: a real model linked into a fresh folder, and what to derive there."""

from __future__ import annotations

import shutil
from pathlib import Path

from kokoro_server.engine.derived.derive import Outcome, derive
from kokoro_server.engine.derived.select import Wanted, wanted_for
from kokoro_server.engine.ort import import_onnxruntime
from kokoro_server.engine.providers import CPU
from kokoro_server.settings import Settings

KEEP = float("inf")  # keep a verified speed recipe whatever the timing said (the machine is shared)


def linked_model(folder: Path, model_file: Path) -> Path:
    """``model_file`` linked into ``folder`` (a models/<version>/ folder with no derived files yet)."""
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / model_file.name
    link.symlink_to(model_file)
    return link


def wanted(model: Path, *, fast: bool = True, graph: bool = True) -> Wanted:
    settings = Settings(data_dir=model.parents[2], fast_model=fast, save_optimized_graph=graph)
    return wanted_for(model, settings, CPU.name, import_onnxruntime().__version__)


def derived(model: Path, *, fast: bool = True, graph: bool = True, max_ratio: float = KEEP) -> Outcome:
    return derive(wanted(model, fast=fast, graph=graph), CPU, threads=1, max_ratio=max_ratio)


def copy_store(source_model: Path, model: Path) -> None:
    """The derived files of ``source_model``'s folder, copied beside ``model`` (the same bytes)."""
    shutil.copytree(source_model.parent / ".derived", model.parent / ".derived",
                    ignore=shutil.ignore_patterns(".derive.lock"))
