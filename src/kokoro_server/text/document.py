"""The document model: a request's input as a sequence of segments, each with the span it came from.

Every input form (plain text, inline markup, SSML) is parsed into a :class:`Document`; the chunker
and the service consume it. Spans are character offsets ``[start, end)`` into ``Document.source``,
the request input exactly as received, so errors and word timestamps can point at what the user wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

from kokoro_server.text.spans import Normalized

MAX_PAUSE_SECONDS = 60.0
"""The longest pause one markup tag or SSML break may ask for."""


@dataclass(frozen=True)
class SayAs:
    """An SSML ``<say-as>``: how its text is to be read, by the language it is read in."""

    interpret_as: str  # characters, cardinal, date, ... (lower case)
    format: str = ""  # e.g. "mdy" for a date


@dataclass(frozen=True)
class Text:
    """Text to normalize and phonemize. ``text`` is ``source[start:end]`` unless ``substituted``
    (an SSML ``<sub alias>`` or ``<say-as>`` reading): then every word of it maps to the whole span."""

    text: str
    start: int
    end: int
    substituted: bool = False
    normalized: Normalized | None = None  # filled in by the service before chunking
    # the language it is read in: a one-letter code, or a BCP-47 tag as written in SSML (xml:lang) until
    # the language pack registry resolves it; None: the language of the voice speaking it
    lang: str | None = None
    say_as: SayAs | None = None  # SSML <say-as>: ``text`` is as written until its language reads it


@dataclass(frozen=True)
class Phonemes:
    """Given phonemes, spoken as they are (never normalized): ``[word](/phonemes/)``, SSML
    ``<phoneme ph>``, a lexicon entry. ``text`` is the written word; the span is the word's."""

    phonemes: str
    text: str
    start: int
    end: int
    at: int = -1  # where ``phonemes`` is written in the source (-1: it is not, e.g. a lexicon entry)


@dataclass(frozen=True)
class Stressed:
    """A word with misaki's stress adjustment ``[word](+1)`` / ``(-1)`` / ``(0.5)``."""

    text: str
    stress: float
    start: int
    end: int
    lang: str | None = None  # as Text.lang


@dataclass(frozen=True)
class Pause:
    """Exactly ``seconds`` of silence at any speed; also a chunk boundary."""

    seconds: float
    start: int
    end: int


@dataclass(frozen=True)
class Break:
    """A sentence or paragraph boundary (SSML ``<s>``, ``<p>``)."""

    kind: Literal["sentence", "paragraph"]
    start: int
    end: int


@dataclass(frozen=True)
class VoiceChange:
    """From here on, speak with ``voice`` (a voice or a mix; None: back to the request's voice)."""

    voice: str | None
    start: int
    end: int


@dataclass(frozen=True)
class SpeedChange:
    """From here on, speak at ``rate`` times the request's speed."""

    rate: float
    start: int
    end: int


Segment = Union[Text, Phonemes, Stressed, Pause, Break, VoiceChange, SpeedChange]


@dataclass(frozen=True)
class Document:
    source: str  # the request input
    segments: tuple[Segment, ...]
    notices: tuple[str, ...] = ()  # things the user should know (e.g. an SSML tag was ignored)

    @property
    def voices(self) -> tuple[str, ...]:
        """Every voice a change asks for, in order, without repeats."""
        seen = dict.fromkeys(s.voice for s in self.segments if isinstance(s, VoiceChange) and s.voice)
        return tuple(seen)

    @property
    def languages(self) -> tuple[str, ...]:
        """Every language its text is read in (once resolved), in order, without repeats."""
        seen = dict.fromkeys(s.lang for s in self.segments if isinstance(s, (Text, Stressed)) and s.lang)
        return tuple(seen)

    def speakable(self) -> bool:
        """Whether anything is left to say (text segments as normalized, when they are)."""
        return any(isinstance(s, (Phonemes, Stressed)) or isinstance(s, Text) and
                   (s.normalized.text if s.normalized is not None else s.text).strip() for s in self.segments)


def plain(text: str) -> Document:
    """Text without markup: one segment."""
    return Document(text, (Text(text, 0, len(text)),) if text else ())
