"""Checks on real audio: decode with PyAV, measure duration, loudness and clipping."""

from __future__ import annotations

import io

import numpy as np

SAMPLE_RATE = 24_000


def decode(data: bytes, fmt: str | None = None) -> tuple[np.ndarray, int]:
    """Decode any container PyAV/FFmpeg knows into mono float32 samples and their rate."""
    import av

    options = {}
    if fmt == "pcm":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0, SAMPLE_RATE
    with av.open(io.BytesIO(data), format=fmt, options=options) as container:
        frames = []
        rate = SAMPLE_RATE
        for frame in container.decode(audio=0):
            rate = frame.sample_rate
            array = frame.to_ndarray()
            if array.dtype.kind == "i":  # full scale as for pcm: int16 -32768 is -1.0 (exact, both ways)
                array = array.astype(np.float32) / -float(np.iinfo(array.dtype).min)
            frames.append(array.reshape(frame.layout.nb_channels if frame.format.is_planar else 1, -1)[0]
                          if frame.format.is_planar else array.reshape(-1))
    return (np.concatenate(frames).astype(np.float32) if frames else np.zeros(0, np.float32)), rate


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0


def assert_speech_like(audio: np.ndarray, *, min_seconds: float, max_seconds: float) -> None:
    seconds = audio.size / SAMPLE_RATE
    assert min_seconds <= seconds <= max_seconds, f"duration {seconds:.2f}s not in [{min_seconds}, {max_seconds}]"
    assert np.isfinite(audio).all(), "audio has NaN or inf"
    assert rms(audio) > 0.01, f"audio is (nearly) silent: rms {rms(audio):.4f}"
    clipped = float(np.mean(np.abs(audio) >= 0.999))
    assert clipped < 0.001, f"{clipped:.2%} of samples are clipped"
