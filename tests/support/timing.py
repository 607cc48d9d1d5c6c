"""Word timestamps against an independent aligner (faster-whisper's word timestamps): the measurement
behind the README's accuracy table, shared by ``tests/test_word_timing.py`` (a reduced form in every
run, the full form behind ``long``) and ``bench/word_timing.py`` (which prints the table).

Per word matched by spelling, the difference of our start and Whisper's: its size (the table) and
its sign (ours minus Whisper's: ours start a few tens of milliseconds later inside chunks, because
Whisper hands the fade and silence before a word to the word).
"""

from __future__ import annotations

import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

import numpy as np

from kokoro_server import SAMPLE_RATE
from kokoro_server.service import SpeechRequest, SpeechService
from kokoro_server.timestamps import StreamClock, WordTime

ENGLISH = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please remember to bring your umbrella, because it might rain this afternoon.",
    "Children were laughing and playing in the park until the sun went down.",
    "Scientists believe the ancient forest is over three thousand years old.",
    "She opened the window and listened to the birds singing in the garden.",
    "Our train was delayed for an hour, so we missed the beginning of the concert.",
    "A cup of hot tea and a good book make a perfect rainy evening.",
    "The museum will open a new exhibition about the history of flight next month.",
    "He wrote a long letter to his grandmother and posted it on Monday morning.",
    "Fresh vegetables from the market taste much better than frozen ones.",
    "The mountain road was narrow and steep, but the view from the top was worth it.",
    "Every evening the fishermen pulled their boats up onto the sandy beach.",
]
SPANISH = [
    "El perro corre por el parque todas las mañanas.",
    "Mañana vamos a visitar a nuestros abuelos en el campo.",
    "La biblioteca de la ciudad tiene muchos libros antiguos.",
    "Me gusta caminar por la playa cuando hace buen tiempo.",
    "El tren sale de la estación a las ocho de la noche.",
    "Mi hermana estudia medicina en la universidad de Madrid.",
]
FRENCH = [
    "Le chat dort tranquillement sur le canapé du salon.",
    "Nous allons au marché chaque samedi matin pour acheter des fruits.",
    "La bibliothèque municipale ferme ses portes à six heures du soir.",
    "Il fait très beau aujourd'hui, alors nous irons à la plage.",
    "Mon frère travaille dans une petite boulangerie près de la gare.",
    "Les enfants jouent dans le jardin pendant que leurs parents discutent.",
]


@dataclass(frozen=True)
class Case:
    label: str  # the table's first column
    language: str  # Whisper's language code
    lang: str  # Kokoro's language code
    voice: str
    speed: float
    sentences: Sequence[str]


FULL = [Case("English, speed 1.0", "en", "a", "af_heart", 1.0, ENGLISH),
        Case("English, speed 1.5", "en", "a", "af_heart", 1.5, ENGLISH),
        Case("Spanish", "es", "e", "ef_dora", 1.0, SPANISH),
        Case("French", "fr", "f", "ff_siwis", 1.0, FRENCH)]


@dataclass
class Measured:
    """One case: |start difference| of the words matched (inside chunks and at the first word of a
    chunk after the first), the signed ones inside chunks, and how many words there were."""

    case: Case
    words: int = 0
    inside: list[float] = field(default_factory=list)
    at_joins: list[float] = field(default_factory=list)
    signed_inside: list[float] = field(default_factory=list)  # ours - Whisper's, seconds
    impossible: int = 0  # first words of chunks Whisper starts before their chunk's audio

    @property
    def every(self) -> list[float]:
        return self.inside + self.at_joins


def speak(service: SpeechService, text: str, voice: str = "af_heart", speed: float = 1.0,
          lang: str | None = None) -> tuple[np.ndarray, list[WordTime], list[tuple[int, int]]]:
    """The audio, its words, and each chunk's (first sample, samples) in the stream."""
    prepared = service.prepare(SpeechRequest(text=text, voice=voice, speed=speed, lang=lang))
    service.require_timestamps(prepared)
    clock, words, audio, chunks = StreamClock(), [], [], []
    for piece in service.stream(prepared):
        chunks.append((clock.samples, len(piece.audio)))
        heard = clock.words(piece)
        assert heard is not None, "the backend gave no durations"
        words.extend(heard)
        audio.append(piece.audio)
    return np.concatenate(audio), words, chunks


def fold(word: str) -> str:
    plain = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in plain if c.isalnum())


def compare(ours: list[WordTime], theirs: list[tuple[str, float, float]], joins: Sequence[float],
            into: Measured) -> None:
    """Add the start differences of the words both sides agree on (aligned by their spelling) to
    ``into``; ``joins``: where each chunk after the first begins (seconds)."""
    a, b = [fold(w.word) for w in ours], [fold(w) for w, _, _ in theirs]
    matcher = SequenceMatcher(a=a, b=b, autojunk=False)
    join_of = {min(range(len(ours)), key=lambda i: abs(ours[i].start_time - join)): join for join in joins}
    for i, j, n in matcher.get_matching_blocks():
        for k in range(n):
            signed = ours[i + k].start_time - theirs[j + k][1]
            if i + k in join_of:
                into.at_joins.append(abs(signed))
                into.impossible += theirs[j + k][1] < join_of[i + k]
            else:
                into.inside.append(abs(signed))
                into.signed_inside.append(signed)


def measure(service: SpeechService, transcriber, case: Case, sentences: Sequence[str] | None = None) -> Measured:
    measured = Measured(case)
    for sentence in sentences if sentences is not None else case.sentences:
        audio, words, chunks = speak(service, sentence, voice=case.voice, speed=case.speed, lang=case.lang)
        measured.words += len(words)
        joins = [start / SAMPLE_RATE for start, _ in chunks[1:]]
        compare(words, transcriber.word_times(audio, case.language), joins, measured)
    return measured


def ms(errors: Sequence[float]) -> str:
    """``median / p90 ms``."""
    if not errors:
        return "-"
    return f"{statistics.median(errors) * 1000:.0f} / {np.percentile(errors, 90) * 1000:.0f} ms"


def row(m: Measured) -> str:
    joins = f"{ms(m.at_joins)} ({len(m.at_joins)})" if m.at_joins else "-"
    return (f"| {m.case.label} (`{m.case.voice}`) | {len(m.every)} / {m.words} | {ms(m.every)} | "
            f"{ms(m.inside)} ({len(m.inside)} words) | {joins} |")


def table(results: Sequence[Measured]) -> str:
    """The README's accuracy table (Word timestamps and captions)."""
    return "\n".join(["| case (voice) | words matched | every word: median / p90 | inside chunks | "
                      "first word of a chunk |", "| --- | --- | --- | --- | --- |", *map(row, results)])


def signed(m: Measured) -> str:
    """The signed median inside chunks, and how many first words of chunks Whisper starts early."""
    if not m.signed_inside:
        return ""
    early = f"; Whisper starts {m.impossible} of {len(m.at_joins)} first words of chunks before their " \
            "chunk's audio" if m.at_joins else ""
    return (f"{m.case.label}: ours - Whisper's start inside chunks, median "
            f"{statistics.median(m.signed_inside) * 1000:+.0f} ms{early}")
