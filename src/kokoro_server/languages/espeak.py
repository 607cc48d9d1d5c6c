"""espeak-ng, the G2P engine of several packs (Spanish, French, Hindi, Italian, Portuguese) and of
English words misaki does not know. Loaded lazily; nothing is downloaded."""

from __future__ import annotations

import threading

from kokoro_server.languages.data import chunk_rules
from kokoro_server.languages.pack import G2P, LanguagePack
from kokoro_server.languages.written import WrittenForms


def configure() -> None:
    import espeakng_loader
    from phonemizer.backend.espeak.wrapper import EspeakWrapper

    EspeakWrapper.set_library(espeakng_loader.get_library_path())
    EspeakWrapper.set_data_path(espeakng_loader.get_data_path())


class Espeak:
    """espeak-ng through misaki's wrapper (phoneme set already mapped to Kokoro's)."""

    def __init__(self, language: str) -> None:
        configure()
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
        configure()
        from phonemizer.backend import EspeakBackend

        self._backend = EspeakBackend(language=language, preserve_punctuation=True, with_stress=True)
        self._lock = threading.Lock()

    def __call__(self, text: str) -> str:
        with self._lock:
            result = self._backend.phonemize([text])
        return result[0] if result else ""


def espeak_pack(package: str, code: str, tags: tuple[str, ...], name: str, num2words: str | None) -> LanguagePack:
    """The pack of a language espeak-ng reads (voice: its first tag), with the package's ``written.json``
    (what espeak-ng misses) and ``chunking.json`` (where its sentences may be cut)."""
    voice = tags[0]
    return LanguagePack(code=code, tags=tags, name=name, g2p=G2P(lambda: Espeak(voice), "espeak-ng", stress=True),
                        normalize=WrittenForms.of(package).rules(), chunking=chunk_rules(package),
                        num2words=num2words, espeak=voice)
