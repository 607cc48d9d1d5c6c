"""Silence at the edges of synthesized audio.

The model pads each utterance with silence: about 0.3 s before the first sound and 0.45 s after the
last, whatever follows. Left in, every join of two chunks is a gap of 0.75 s or more, even where a
long text was cut inside a phrase; so each chunk's edge silence is cut down to a short margin (which
keeps soft onsets and fades) and the chunker's pause for its boundary is added after it.
"""

from __future__ import annotations

import numpy as np

from kokoro_server import SAMPLE_RATE

SILENCE_LEVEL = 0.005  # |sample| below this is silence (about -46 dBFS)
LEAD_MARGIN = int(0.04 * SAMPLE_RATE)  # silence kept before a chunk's first sound
TRAIL_MARGIN = int(0.06 * SAMPLE_RATE)  # and after its last one


def speech_bounds(audio: np.ndarray, *, lead: int, trail: int, level: float = SILENCE_LEVEL) -> tuple[int, int]:
    """``(start, end)`` of ``audio`` with at most ``lead`` samples of silence before its first sound
    and ``trail`` after its last (all silent: empty)."""
    loud = np.flatnonzero(np.abs(audio) >= level)
    if loud.size == 0:
        return 0, 0
    return max(int(loud[0]) - lead, 0), min(int(loud[-1]) + 1 + trail, audio.size)
