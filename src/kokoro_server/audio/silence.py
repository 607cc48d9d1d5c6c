"""Silence at the edges of synthesized audio (the model pads each utterance with a little)."""

from __future__ import annotations

import numpy as np

SILENCE_LEVEL = 0.005  # |sample| below this is silence (about -46 dBFS)


def speech_bounds(audio: np.ndarray, *, lead: bool, trail: bool, level: float = SILENCE_LEVEL) -> tuple[int, int]:
    """``(start, end)`` of ``audio`` without its leading and/or trailing silence (all silent: empty)."""
    if not (lead or trail) or audio.size == 0:
        return 0, audio.size
    loud = np.flatnonzero(np.abs(audio) >= level)
    if loud.size == 0:
        return 0, 0
    return (int(loud[0]) if lead else 0), (int(loud[-1]) + 1 if trail else audio.size)
