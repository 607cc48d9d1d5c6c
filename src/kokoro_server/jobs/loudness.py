"""One gain per book to audiobook levels (ACX: RMS -23 to -18 dBFS, peaks at most -3 dBFS).

Each finished chunk's integrated loudness (ITU-R BS.1770, ``pyloudnorm``) is recorded with it; the
book's loudness is their power mean weighted by length (each chunk gated on its own), so it is known
at any moment without reading the audio again and memory stays flat for any length of book. The
gain brings it to ``target_lufs``; the rare peaks that the gain would push past ``ceiling_dbfs`` are
turned down by a smooth limiter (the gain envelope is the sliding minimum of the gain each sample
needs, averaged over a shorter window, so it never exceeds what any sample within reach needs:
sample peaks stay at or under the ceiling exactly).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from kokoro_server import SAMPLE_RATE

TARGET_LUFS = -20.0  # Kokoro speech measures within a dB of its RMS: -20 LUFS lands near -20 dBFS RMS
CEILING_DBFS = -3.5  # half a dB under ACX's -3 dBFS, for the lossy encoder's overshoot
MIN_SECONDS = 0.4  # pyloudnorm needs one 400 ms block
LIMITER_WINDOW = 240  # samples (10 ms): how far ahead and behind a peak the gain comes down


def chunk_loudness(audio: np.ndarray) -> float | None:
    """Integrated loudness (LUFS) of float audio at 24 kHz; None when too short or silent."""
    import pyloudnorm

    if len(audio) < MIN_SECONDS * SAMPLE_RATE:
        return None
    value = pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(np.asarray(audio, dtype=np.float64))
    return float(value) if math.isfinite(value) else None


def book_loudness(parts: Sequence[tuple[float | None, int]]) -> float | None:
    """The power mean of ``(loudness, samples)`` parts: the book's loudness (LUFS)."""
    energy = total = 0.0
    for loudness, samples in parts:
        if loudness is not None and samples > 0:
            energy += samples * 10 ** (loudness / 10)
            total += samples
    return 10 * math.log10(energy / total) if total and energy > 0 else None


def gain_for(loudness: float | None, target_lufs: float = TARGET_LUFS) -> float:
    """The linear gain that brings ``loudness`` to the target (1.0 when unknown), at most +30 dB."""
    if loudness is None:
        return 1.0
    return 10 ** (min(target_lufs - loudness, 30.0) / 20)


def apply_gain(audio: np.ndarray, gain: float, ceiling_dbfs: float = CEILING_DBFS) -> np.ndarray:
    """``audio * gain`` (float32), with the peaks over the ceiling limited smoothly."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    out = np.asarray(audio, dtype=np.float32) * np.float32(gain)
    ceiling = 10 ** (ceiling_dbfs / 20)
    level = np.abs(out)
    if not out.size or level.max() <= ceiling:
        return out
    needed = np.minimum(1.0, ceiling / np.maximum(level, 1e-12))
    floor = minimum_filter1d(needed, size=2 * LIMITER_WINDOW + 1, mode="nearest")
    smooth = uniform_filter1d(floor, size=LIMITER_WINDOW + 1, mode="nearest")
    return (out * np.minimum(smooth, needed)).astype(np.float32)


def rms_dbfs(sum_squares: float, samples: int) -> float | None:
    return 10 * math.log10(sum_squares / samples) if samples and sum_squares > 0 else None
