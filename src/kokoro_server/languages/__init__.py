"""Language packs: everything the front end knows about a language, one folder per language.

Each pack (:class:`~kokoro_server.languages.pack.LanguagePack`) declares its code, tags, name, G2P
engine and capabilities, normalization rules and tables, ``<say-as>`` readings, where its sentences
may be cut and its num2words code. The registry below is the one list of languages: the builds,
the CLI help, the OpenAPI schema, ``GET /v1/config`` and the web page read it.

Adding a language: a folder here (see ``docs/languages.md``) and its module in the line below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kokoro_server.languages import en, es, fr, hi, it, ja, pt_br, zh
from kokoro_server.languages.pack import G2P, LanguagePack, Phonemizer
from kokoro_server.languages.reading import read_languages as _read_languages
from kokoro_server.languages.registry import LanguageRegistry
from kokoro_server.text.chunk import ChunkRules, FrontEnd
from kokoro_server.text.document import Document
from kokoro_server.text.normalize import DEFAULT_OPTIONS, NormalizationOptions, Normalized
from kokoro_server.text.normalize import normalize as _normalize

LANGUAGES = LanguageRegistry(*(pack for module in (en, es, fr, hi, it, pt_br, ja, zh) for pack in module.PACKS))
"""Every language pack, by one-letter code."""

__all__ = ["G2P", "LANGUAGES", "LanguagePack", "LanguageRegistry", "Phonemizer", "front_end", "normalize",
           "normalize_text", "read_languages"]


def normalize(text: str, options: NormalizationOptions = DEFAULT_OPTIONS, lang: str = "a") -> Normalized:
    """``text`` normalized by the rules of language ``lang`` (with the way back to the input)."""
    return _normalize(text, options, LANGUAGES[lang].normalize)


def normalize_text(text: str, options: NormalizationOptions = DEFAULT_OPTIONS, lang: str = "a") -> str:
    """The normalized text alone (see :func:`normalize`)."""
    return normalize(text, options, lang).text


def read_languages(document: Document, lang: str, *, pinned: bool = False,
                   supported: Mapping[str, LanguagePack] | None = None) -> Document:
    """Each text segment's language, ``<say-as>`` and emphasis (see :mod:`kokoro_server.languages.reading`)."""
    return _read_languages(document, lang, registry=LANGUAGES, pinned=pinned, supported=supported)


def front_end(make_phonemizer: Callable[[str], Phonemizer]) -> FrontEnd:
    """What the chunker reads a segment of language ``code`` with: the phonemizer a build makes for it
    (``make_phonemizer``: a build's) and the pack's cut rules."""
    def of(code: str) -> tuple[Phonemizer, ChunkRules]:
        return make_phonemizer(code), LANGUAGES[code].chunking
    return of
