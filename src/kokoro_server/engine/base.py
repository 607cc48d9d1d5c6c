"""The backend interface: token ids + style vector + speed -> float32 audio at 24 kHz."""

from __future__ import annotations

from dataclasses import dataclass
from contextlib import AbstractContextManager
from typing import Protocol, Sequence

import numpy as np

FRAME_SAMPLES = 600
"""Audio samples per predicted duration frame (25 ms at 24 kHz): ``sum(durations) * 600 == len(audio)``."""


@dataclass(frozen=True)
class SynthesisOutput:
    audio: np.ndarray  # float32, mono, 24 kHz
    durations: np.ndarray | None = None  # predicted frames per input token (pads included), if known


class Backend(Protocol):
    name: str  # "onnx" | "torch"
    description: str  # e.g. "onnxruntime 1.32 CPU, 2 threads, kokoro-v1_0-int8.onnx"
    durations_problem: str | None  # why synthesize() returns no durations (None: it always does)

    def synthesize(self, tokens: Sequence[int], style: np.ndarray, speed: float) -> SynthesisOutput:
        """``tokens`` without pads (1..510 ids); ``style`` is ``[1, 256]`` float32."""
        ...

    def streaming(self) -> AbstractContextManager[None]:
        """Held around all the calls of one stream (one request), so the backend knows how many
        streams are live and can lay out its resources (e.g. threads) for them."""
        ...

    def close(self) -> None: ...
