"""The language pass: which language each part of a document is read in, and what follows from it.

The parsers are language-blind; this pass, run on the parsed document before lexicons and
normalization, gives every text segment the one-letter code of its language:

- a segment inside SSML ``<lang xml:lang="fr">`` (or an element with ``xml:lang``) is read in that
  language;
- otherwise the language follows the voice: after ``[voice:ef_dora]`` or inside
  ``<voice name="ef_dora">`` the Spanish pack reads the text (normalization, G2P, where to cut);
  back to the request's voice, back to the request's language. A request that names its
  language (``lang_code``) keeps its variant for voices of the same language (a British request
  stays British with an American voice);
- a tag no pack (or no pack the model supports) reads gives a notice, and the text is read in the
  language it would have had.

Then each ``<say-as>`` is read by its language's readings, and misaki's stress markup
(``<emphasis>``, ``[word](+1)``) is kept only where the language's G2P has stress marks to move
(else the text is read plainly, with a notice).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from kokoro_server.errors import quote
from kokoro_server.languages.pack import LanguagePack
from kokoro_server.languages.registry import LanguageRegistry
from kokoro_server.text.document import Document, Segment, Stressed, Text, VoiceChange


class _Languages:
    def __init__(self, registry: LanguageRegistry, base: str, pinned: bool,
                 supported: Mapping[str, LanguagePack] | None) -> None:
        self.registry = registry
        self.base = base
        self.pinned = pinned
        self.supported = supported
        self.notices: dict[str, None] = {}

    def usable(self, pack: LanguagePack | None) -> bool:
        if pack is None:
            return False
        if self.supported is None:
            return pack.supported
        known = self.supported.get(pack.code)
        return known is not None and known.supported

    def of_voice(self, voice: str | None) -> str:
        if voice is None:
            return self.base
        pack = self.registry.of_voice(voice)
        if pack is None or not self.usable(pack):
            return self.base
        if self.pinned and pack.primary == self.registry[self.base].primary:
            return self.base  # the request asked for this variant
        return pack.code

    def of(self, tag: str | None, voice: str | None) -> str:
        current = self.of_voice(voice)
        if tag is None:
            return current
        pack = self.registry.find(tag, prefer=current)
        if not self.usable(pack):
            self.notices[f"language {quote(tag)} is not available: read as {self.registry[current].name}"] = None
            return current
        assert pack is not None
        return pack.code


def read_languages(document: Document, lang: str, *, registry: LanguageRegistry, pinned: bool = False,
                   supported: Mapping[str, LanguagePack] | None = None) -> Document:
    """``document`` with every text segment's language code set (``lang``: the request's), its
    ``<say-as>`` readings made, and stress markup only where the language has stress.
    ``supported``: the packs the model reads (a build's ``languages``); others are not switched to."""
    languages = _Languages(registry, lang, pinned, supported)
    voice: str | None = None
    segments: list[Segment] = []
    for segment in document.segments:
        if isinstance(segment, VoiceChange):
            voice = segment.voice
        elif isinstance(segment, Text):
            code = languages.of(segment.lang, voice)
            segment = replace(segment, lang=code)
            if segment.say_as is not None:
                segment = _say_as(segment, registry[code], languages.notices)
        elif isinstance(segment, Stressed):
            code = languages.of(segment.lang, voice)
            pack = registry[code]
            if pack.g2p.stress:
                segment = replace(segment, lang=code)
            else:
                languages.notices[f"emphasis is not supported for {pack.name}: read without it"] = None
                segment = Text(segment.text, segment.start, segment.end, lang=code)
        segments.append(segment)
    notices = tuple(dict.fromkeys((*document.notices, *languages.notices)))
    return Document(document.source, tuple(segments), notices)


def _say_as(segment: Text, pack: LanguagePack, notices: dict[str, None]) -> Text:
    assert segment.say_as is not None
    kind, fmt = segment.say_as.interpret_as, segment.say_as.format
    reading = pack.readings().read(segment.text, kind, fmt)
    if reading is None:
        notices[f"SSML say-as interpret-as={quote(kind)} not supported for {pack.name}: the text is read as it is"] = None
        reading = segment.text
    return replace(segment, text=reading, say_as=None)
