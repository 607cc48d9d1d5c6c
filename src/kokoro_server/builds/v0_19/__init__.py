"""Kokoro-82M v0.19: espeak-ng front end, fixed 178-symbol vocabulary, 511-row voice packs.

No v0.19 weights can be fetched by this project: users supply ``kokoro-v0_19.pth`` (or an ONNX
export) in ``models/v0_19/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kokoro_server.builds.base import Build, Language, Phonemizer, WeightFile, read_config
from kokoro_server.builds.v0_19.vocab import VOCAB
from kokoro_server.text import g2p

CONFIG = read_config(__name__)

LANGUAGES = {
    lang.code: lang
    for lang in (Language("a", "English (US)", "en-us"), Language("b", "English (UK)", "en-gb"))
}

_PUNCT_AFTER_Z = re.compile(r' z(?=[;:,.!?¡¿—…"«»“” ]|$)')
_HUNDRED = re.compile(r"(?<=[a-zɹː])(?=hˈʌndɹɪd)")
_NINETY = re.compile(r"(?<=nˈaɪn)ti(?!ː)")


class V019Phonemizer:
    """v0.19's front end: espeak-ng IPA with the clean-ups v0.19's reference code applied."""

    def __init__(self, lang: str) -> None:
        self._lang = lang
        self._espeak = g2p.cached(g2p.RawEspeak, LANGUAGES[lang].tag)

    def __call__(self, text: str) -> str:
        ps = self._espeak(text)
        ps = ps.replace("kəkˈoːɹoʊ", "kˈoʊkəɹoʊ").replace("kəkˈɔːɹəʊ", "kˈəʊkəɹəʊ")
        ps = ps.replace("ʲ", "j").replace("r", "ɹ").replace("x", "k").replace("ɬ", "l")
        ps = _HUNDRED.sub(" ", ps)
        ps = _PUNCT_AFTER_Z.sub("z", ps)
        if self._lang == "a":
            ps = _NINETY.sub("di", ps)
        return "".join(p for p in ps if p in VOCAB).strip()


def make_phonemizer(lang: str) -> Phonemizer:
    if lang not in LANGUAGES:
        raise KeyError(lang)
    return V019Phonemizer(lang)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """v0.19 ``.pth``: ``{"net": {component: {"module.<key>": tensor}}}`` -> ``{component: {key: tensor}}``."""
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    net = checkpoint.get("net", checkpoint)
    return {
        component: {key.removeprefix("module."): value for key, value in state.items()}
        for component, state in net.items()
    }


BUILD = Build(
    version="v0_19",
    title="Kokoro-82M v0.19",
    config=CONFIG,
    vocab=VOCAB,
    voice_rows=511,
    weight_files=(WeightFile("kokoro-v0_19.onnx", "onnx"), WeightFile("kokoro-v0_19.pth", "pth")),
    languages=LANGUAGES,
    make_phonemizer=make_phonemizer,
    load_checkpoint=load_checkpoint,
    default_voice="af",
    notes="weights are not distributed with kokoro-server; supply kokoro-v0_19.pth or .onnx",
)
