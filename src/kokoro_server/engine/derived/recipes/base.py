"""What a recipe is: a function from an ONNX graph to an ONNX graph, with what it is for and how
the derivation judges it. See ``docs/architecture.md`` ("Derived model files")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import onnx

Purpose = Literal["speed", "function"]


@dataclass(frozen=True)
class RecipeContext:
    """What a recipe may use besides the graph: the file it was loaded from, the provider it will run
    on, and the check inputs (model feeds of real token ids) the derivation verifies and times on."""

    source: Path
    provider: str
    check_feeds: Sequence[dict[str, np.ndarray]] = field(default=())


@dataclass(frozen=True)
class Applied:
    """A recipe's result: the graph (a copy or the same object, edited), whether anything changed, a
    line for ``kokoro-server models`` and, when it could not apply, why."""

    model: onnx.ModelProto
    changed: bool
    summary: str
    problem: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # recorded in the manifest (e.g. the durations tensor)


@dataclass(frozen=True)
class Recipe:
    """One registered derivation (``engine/derived/recipes/<name>.py``, one line in ``RECIPES``)."""

    name: str  # "lossless-int8-gemm"
    version: int  # bump it when the output changes: files of older versions are stale and derived again
    apply: Callable[[onnx.ModelProto, RecipeContext], Applied]
    purpose: Purpose  # speed: kept only where the derived file measures faster on this CPU and provider;
    # function: kept whenever it verifies (e.g. the durations output word timestamps need)
    exact: bool = True  # True: the audio must stay bit-identical to the input graph's (checked at every
    # derivation); False: lossy, judged by ``quality_check`` (the quality bar)
    automatic: bool = True  # applied by the server's background derivation and `kokoro-server models
    # --derive`; False: only by an explicit command (e.g. `kokoro-server optimize`)
    providers: frozenset[str] | None = None  # the providers it is for (None: all)
    quality_check: Callable[[Any, Any, RecipeContext], tuple[bool, dict[str, Any]]] | None = None
    # for a lossy recipe: (reference session, derived session, context) -> (passed, figures)
    available: Callable[[], str | None] | None = None  # why it is not for this machine (None: it is);
    # a recipe that is not is never wanted, so the file it would make is never asked for
    runner: Callable[[Path | bytes, Callable[[bytes], Any], int], Any] | None = None
    # how a file holding this recipe runs, when not by onnxruntime alone: (the file, a function that
    # opens an ONNX graph's bytes as an onnxruntime session with the caller's options, threads) -> an object
    # with a session's get_inputs(), get_outputs() and run(names, feeds); None: onnxruntime runs it

    @property
    def id(self) -> str:
        return f"{self.name}/{self.version}"

    def applies_to(self, provider: str) -> bool:
        return (self.providers is None or provider in self.providers) and \
            (self.available is None or self.available() is None)
