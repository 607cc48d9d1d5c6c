"""How far apart two renderings of the same utterance sound: log-mel spectrogram distance."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 24_000
N_FFT = 1024
HOP = 256
N_MELS = 80
FLOOR_DB = 60.0  # cells more than this below the loudest one are ignored (silence)


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    def to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def to_hz(mel: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)

    edges = to_hz(np.linspace(0.0, to_mel(np.array(SAMPLE_RATE / 2)), N_MELS + 2))
    bins = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    bank = np.zeros((N_MELS, bins.size))
    for i in range(N_MELS):
        low, centre, high = edges[i:i + 3]
        bank[i] = np.clip(np.minimum((bins - low) / (centre - low), (high - bins) / (high - centre)), 0.0, None)
    return bank


def log_mel(audio: np.ndarray) -> np.ndarray:
    """[mels, frames] power in dB."""
    padded = np.pad(np.asarray(audio, dtype=np.float64), (N_FFT // 2, N_FFT // 2))
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP] * np.hanning(N_FFT)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return 10.0 * np.log10(mel_filterbank() @ power.T + 1e-10)


def log_mel_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference in dB over the cells with sound (within 60 dB of the loudest)."""
    n = min(len(a), len(b))
    x, y = log_mel(a[:n]), log_mel(b[:n])
    mask = np.maximum(x, y) > x.max() - FLOOR_DB
    return float(np.mean(np.abs(x - y)[mask]))
