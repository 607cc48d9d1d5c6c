"""Silence at the edges of synthesized audio (the model pads each utterance with a little)."""

from __future__ import annotations

import numpy as np

SILENCE_LEVEL = 0.005  # |sample| below this is silence (about -46 dBFS)


def trim_silence(audio: np.ndarray, *, lead: bool, trail: bool, level: float = SILENCE_LEVEL) -> np.ndarray:
    """``audio`` without its leading and/or trailing silence (all of it silent: nothing left)."""
    if not (lead or trail) or audio.size == 0:
        return audio
    loud = np.flatnonzero(np.abs(audio) >= level)
    if loud.size == 0:
        return audio[:0]
    start = int(loud[0]) if lead else 0
    end = int(loud[-1]) + 1 if trail else audio.size
    return audio[start:end]
