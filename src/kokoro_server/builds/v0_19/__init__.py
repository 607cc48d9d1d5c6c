"""Kokoro-82M v0.19: espeak-ng front end, fixed 178-symbol vocabulary, 511-row voice packs.

Its weights are not embedded: ``kokoro-server download -m v0_19`` fetches the ONNX export (or
``--weights pth``), or users place their own ``kokoro-v0_19.pth`` / ONNX export in ``models/v0_19/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from functools import cache

from kokoro_server.builds.base import Build, Phonemizer, WeightFile, read_config
from kokoro_server.builds.v0_19.downloads import DOWNLOADS
from kokoro_server.builds.v0_19.vocab import VOCAB
from kokoro_server.languages import LANGUAGES as LANGUAGE_PACKS
from kokoro_server.languages.espeak import RawEspeak

CONFIG = read_config(__name__)

# v0.19 was trained on English only, read by raw espeak-ng
LANGUAGES = LANGUAGE_PACKS.view(lambda pack: pack.code in ("a", "b"))


@cache
def _raw_espeak(voice: str) -> RawEspeak:
    return RawEspeak(voice)

_PUNCT_AFTER_Z = re.compile(r' z(?=[;:,.!?¡¿—…"«»“” ]|$)')
_HUNDRED = re.compile(r"(?<=[a-zɹː])(?=hˈʌndɹɪd)")
_NINETY = re.compile(r"(?<=nˈaɪn)ti(?!ː)")


class V019Phonemizer:
    """v0.19's front end: espeak-ng IPA with the clean-ups v0.19's reference code applied."""

    def __init__(self, lang: str) -> None:
        self._lang = lang
        self._espeak = _raw_espeak(LANGUAGES[lang].espeak or LANGUAGES[lang].tag)

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


# v0.19 had no ``plbert`` section in config.json: its plbert.py built ALBERT with these (and
# vocab_size = n_token), its models.py built the text encoder with kernel size 5.
PLBERT = {"hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 2048,
          "max_position_embeddings": 512, "num_hidden_layers": 12, "dropout": 0.1}
TEXT_ENCODER_KERNEL_SIZE = 5


def kmodel_config(config: dict[str, Any]) -> dict[str, Any]:
    """v0.19's config.json -> the equivalent ``kokoro.KModel`` config (same architecture as v1.0).

    v0.19 names the decoder section ``decoder`` (with ``type: istftnet``) where KModel reads
    ``istftnet``; ``plbert``, ``text_encoder_kernel_size`` and ``vocab`` were fixed in v0.19's code.
    """
    decoder = dict(config["decoder"])
    kind = decoder.pop("type", "istftnet")
    if kind != "istftnet":
        raise ValueError(f"v0.19 decoder type {kind!r} is not the istftnet decoder KModel implements")
    rest = {key: value for key, value in config.items() if key != "decoder"}
    return {**rest, "istftnet": decoder, "plbert": dict(PLBERT),
            "text_encoder_kernel_size": TEXT_ENCODER_KERNEL_SIZE, "vocab": dict(VOCAB)}


def v1_voice_name(voice: str) -> str:
    """The name v1.0 ships a v0.19 voice under: ``af`` -> ``af_v0``, ``af_irulan`` -> ``af_v0irulan``.

    (v1.0's ``*_v0*`` packs hold the first 510 rows of the v0.19 packs of the same name.)
    """
    prefix, _, rest = voice.partition("_")
    return f"{prefix}_v0{rest}"


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
    style_row_offset=0,  # v0.19's own code indexed the 511-row pack with len(tokens)
    kmodel_config=kmodel_config(CONFIG),
    later_voice_name=v1_voice_name,
    downloads=DOWNLOADS,
    notes="no weights ship with kokoro-server for v0.19: `kokoro-server download -m v0_19` fetches the ONNX "
          "export (--weights pth: the checkpoint), or place your own kokoro-v0_19.pth or ONNX export in "
          "models/v0_19/, or move an old install with `kokoro-server migrate`",
)
