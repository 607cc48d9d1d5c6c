"""The backend interface: token ids + style vector + speed -> float32 audio at 24 kHz.

A backend is one module of ``engine/`` (``onnx_runtime.py``, ``torch_kmodel.py``) that defines its
:class:`Backend` class and a :class:`BackendKind` (the weight formats it runs, whether it is
installed, how it opens a model); ``engine/backends.py`` registers the kinds, one line each.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import numpy as np

if TYPE_CHECKING:
    from kokoro_server.builds import Build
    from kokoro_server.datadir import ModelLocation
    from kokoro_server.settings import Settings

FRAME_SAMPLES = 600
"""Audio samples per predicted duration frame (25 ms at 24 kHz): ``sum(durations) * 600 == len(audio)``."""


@dataclass(frozen=True)
class SynthesisOutput:
    audio: np.ndarray  # float32, mono, 24 kHz
    durations: np.ndarray | None = None  # predicted frames per input token (pads included), if known


@dataclass(frozen=True)
class RunInfo:
    """What a loaded backend runs and on what, and why (``kokoro-server models``, ``/v1/models``)."""

    file: str  # the file that runs
    why: str  # why that file (e.g. a derived file's recipes and check)
    device: str  # "cpu", "cuda", ...: the execution provider or torch device
    fallback: str | None = None  # why the device asked for is not the one in use


class Backend(Protocol):
    name: str  # "onnx" | "torch"
    description: str  # e.g. "onnxruntime 1.32 CPU, 2 threads, kokoro-v1_0-int8.onnx"
    durations_problem: str | None  # why synthesize() returns no durations (None: it always does)

    def run_info(self) -> RunInfo: ...

    def synthesize(self, tokens: Sequence[int], style: np.ndarray, speed: float) -> SynthesisOutput:
        """``tokens`` without pads (1..510 ids); ``style`` is ``[1, 256]`` float32."""
        ...

    def streaming(self) -> AbstractContextManager[None]:
        """Held around all the calls of one stream (one request), so the backend knows how many
        streams are live and can lay out its resources (e.g. threads) for them."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class OpenRequest:
    """Everything a backend kind may need to open a model: the build, the weights found, the settings,
    the fix to name if the file is bad, and (servers only) the background deriver."""

    build: Build
    location: ModelLocation
    settings: Settings
    fix_hint: str
    derivations: Any | None = None  # engine.derived.background.BackgroundDerivations, for servers


@dataclass(frozen=True)
class BackendKind:
    """One backend as the registry knows it."""

    name: str  # what KOKORO_BACKEND names it by
    title: str  # "PyTorch"
    formats: tuple[str, ...]  # the weight formats it runs (a build's WeightFile.format)
    available: Callable[[], bool]  # its packages are installed
    missing: str  # what is missing when it is not, e.g. "torch and kokoro are not installed"
    install: str  # the command that installs it
    open: Callable[[OpenRequest], Backend]
    preview: Callable[[OpenRequest], RunInfo]  # what ``open`` would run, without loading or writing anything
    derive: Callable[[OpenRequest, Callable[[str], None]], str] | None = None  # make its derived files now
    # (`kokoro-server models --derive`): returns what runs from now on and why
