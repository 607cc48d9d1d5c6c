"""What a language is to kokoro-server: one :class:`LanguagePack` per language.

A pack holds every language-specific fact of the front end: its one-letter Kokoro code (also the
first letter of its voices' names), its BCP-47 tags, its name, its grapheme-to-phoneme engine and what
that engine can do, its normalization rules and their data tables, its ``<say-as>`` readings, where
its sentences may be cut (clause marks, phrase starters) and its num2words code. The model and the
text machinery (:mod:`kokoro_server.text`) are language-blind; they ask the pack.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from kokoro_server.languages.say_as import SayAs
from kokoro_server.text.chunk import ChunkRules
from kokoro_server.text.normalize import NormalizationOptions
from kokoro_server.text.spans import Rewriter


class Phonemizer(Protocol):
    """Turns (already normalized) text of one language into a phoneme string."""

    def __call__(self, text: str) -> str: ...


Rules = Callable[[Rewriter, NormalizationOptions], None]
"""A language's normalization: rewrites the text in place (see :class:`~kokoro_server.text.spans.Rewriter`)."""


def no_rules(rw: Rewriter, options: NormalizationOptions) -> None:
    """A language whose front end reads every written form itself."""


@dataclass(frozen=True)
class G2P:
    """A pack's grapheme-to-phoneme engine and what it can do."""

    make: Callable[[], Phonemizer]  # builds the engine (once per process: see LanguagePack.phonemizer)
    engine: str  # what it is, for people: "misaki", "espeak-ng", "pyopenjtalk"
    phonemes: str = "misaki"  # the phoneme set it writes: "misaki" is Kokoro v1.0's
    spaced: bool = True  # words are separated by spaces (False: Japanese, Mandarin)
    stress: bool = False  # its phonemes carry stress marks that misaki's stress markup moves ([word](+1), <emphasis>)
    offline: bool = True  # False: voices exist but no offline front end is available


@dataclass(frozen=True, eq=False)
class LanguagePack:
    code: str  # one-letter Kokoro code, also the first letter of its voices' names ("a")
    tags: tuple[str, ...]  # BCP-47 tags, the first one shown ("en-us", "en")
    name: str  # "English (US)"
    g2p: G2P
    normalize: Rules = no_rules
    say_as: SayAs | None = None  # None: the generic readings with num2words in ``num2words``
    chunking: ChunkRules = ChunkRules()
    num2words: str | None = None  # num2words' code for this language; None: it has none
    espeak: str | None = None  # espeak-ng's voice for it (Kokoro v0.19 reads English with raw espeak-ng)
    _engine: list[Phonemizer] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def tag(self) -> str:
        return self.tags[0]

    @property
    def primary(self) -> str:
        """The primary language subtag: "en" for both English packs."""
        return self.tag.split("-")[0].lower()

    @property
    def supported(self) -> bool:
        return self.g2p.offline

    def phonemizer(self) -> Phonemizer:
        """The pack's G2P engine, built on first use and shared (they are costly to build)."""
        if not self._engine:
            with self._lock:
                if not self._engine:
                    engine = self.g2p.make()
                    engine.spaced = self.g2p.spaced  # type: ignore[attr-defined]  # what text/words.py reads
                    self._engine.append(engine)
        return self._engine[0]

    def readings(self) -> SayAs:
        """Its ``<say-as>`` readings."""
        return self.say_as or SayAs(self.num2words)

    def describe(self) -> str:
        """``e (Spanish, es)``: how help texts name it."""
        return f"{self.code} ({self.name}, {self.tag})"
