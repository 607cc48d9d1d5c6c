"""Language packs: everything the front end knows about a language, one folder per language.

Each pack (:class:`~kokoro_server.languages.pack.LanguagePack`) declares its code, tags, name, G2P
engine and capabilities, normalization rules and tables, ``<say-as>`` readings, where its sentences
may be cut and its num2words code. The registry below is the one list of languages: the builds,
the CLI help, the OpenAPI schema, ``GET /v1/config`` and the web page read it.

Adding a language: a folder here (see ``docs/languages.md``) and its module in the import and in the
registry's line below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kokoro_server.errors import InvalidInputError, quote
from kokoro_server.languages import en, es, fr, hi, it, ja, pt_br, zh
from kokoro_server.languages.pack import G2P, LanguagePack, Phonemizer
from kokoro_server.languages.reading import read_languages as _read_languages
from kokoro_server.languages.registry import LanguageRegistry
from kokoro_server.text.chunk import ChunkPlan, ChunkRules, Chunker, FrontEnd
from kokoro_server.text.document import Document
from kokoro_server.text.normalize import DEFAULT_OPTIONS, NormalizationOptions, Normalized
from kokoro_server.text.normalize import normalize as _normalize

LANGUAGES = LanguageRegistry(*(pack for module in (en, es, fr, hi, it, pt_br, ja, zh) for pack in module.PACKS))
"""Every language pack, by one-letter code."""

__all__ = ["G2P", "LANGUAGES", "LanguagePack", "LanguageRegistry", "Phonemizer", "chunker", "front_end",
           "normalize", "normalize_text", "read_languages", "resolve"]


def resolve(name: str, among: Mapping[str, LanguagePack], version: str, param: str) -> LanguagePack:
    """The pack a code or BCP-47 tag names, if model ``version`` reads it (``among``: its languages);
    else a 400 naming the languages it reads."""
    pack = LANGUAGES.find(name)
    if pack is None or pack.code not in among or not pack.supported:
        supported = ", ".join(f"{code} ({p.name})" for code, p in among.items() if p.supported)
        raise InvalidInputError(f"language {quote(name)} is not supported offline by {version}; supported: {supported}",
                                param=param)
    return pack


def normalize(text: str, options: NormalizationOptions = DEFAULT_OPTIONS, lang: str = "a") -> Normalized:
    """``text`` normalized by the rules of language ``lang`` (with the way back to the input)."""
    return _normalize(text, options, rules=LANGUAGES[lang].normalize)


def normalize_text(text: str, options: NormalizationOptions = DEFAULT_OPTIONS, lang: str = "a") -> str:
    """The normalized text alone (see :func:`normalize`)."""
    return normalize(text, options, lang).text


def read_languages(document: Document, lang: str, *, pinned: bool = False,
                   supported: Mapping[str, LanguagePack] | None = None) -> Document:
    """Each text segment's language, ``<say-as>`` and emphasis (see :mod:`kokoro_server.languages.reading`)."""
    return _read_languages(document, lang, registry=LANGUAGES, pinned=pinned, supported=supported)


def chunker(make_phonemizer: Callable[[str], Phonemizer], tokenize: Callable[[str], list[int]], lang: str,
            plan: ChunkPlan = ChunkPlan()) -> Chunker:
    """A chunker that reads language ``lang``, and each part of a document in its own language (with the
    phonemizers of ``make_phonemizer``, a build's)."""
    return Chunker(make_phonemizer(lang), tokenize, plan, rules=LANGUAGES[lang].chunking,
                   front_end=front_end(make_phonemizer))


def front_end(make_phonemizer: Callable[[str], Phonemizer]) -> FrontEnd:
    """What the chunker reads a segment of language ``code`` with: the phonemizer a build makes for it
    (``make_phonemizer``: a build's) and the pack's cut rules."""
    def of(code: str) -> tuple[Phonemizer, ChunkRules]:
        return make_phonemizer(code), LANGUAGES[code].chunking
    return of
