"""Word timestamps of real speech: invariants on the real model, agreement of the two backends, and
accuracy against an independent aligner (faster-whisper's word timestamps)."""

from __future__ import annotations

import re
import statistics
import unicodedata
from difflib import SequenceMatcher

import numpy as np
import pytest

from kokoro_server import SAMPLE_RATE
from kokoro_server.service import SpeechRequest, SpeechService
from kokoro_server.settings import Settings
from kokoro_server.timestamps import StreamClock, WordTime


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


def end_of_speech(audio: np.ndarray) -> float:
    """Seconds to the end of the last 10 ms window within 40 dB of the loudest one."""
    window = SAMPLE_RATE // 100
    frames = audio[: len(audio) // window * window].reshape(-1, window)
    level = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    loud = np.nonzero(level > level.max() * 0.01)[0]
    return (loud[-1] + 1) * window / SAMPLE_RATE


STORY = ("The old lighthouse keeper climbed the stairs at dusk, as he always did. He lit the lamp.\n\n"
         "Ships passed safely in the night, and nobody in the village could remember a single night "
         "when his light had failed them.")


@pytest.mark.parametrize("speed", [1.0, 1.5])
def test_words_are_ordered_inside_the_audio_and_account_for_joins_and_pauses(service: SpeechService,
                                                                             speed: float) -> None:
    audio, words, chunks = speak(service, STORY, speed=speed)
    assert len(chunks) >= 3  # a short first chunk, a sentence break and a paragraph break between chunks
    assert [w.word for w in words] == [STORY[w.char_start:w.char_end] for w in words]
    spoken = [w.lower() for w in re.findall(r"[\w']+", STORY)]
    assert [re.sub(r"\W", "", w.word.lower()) for w in words] == spoken  # every word once, in order
    for before, after in zip(words, words[1:]):
        assert before.start_time < before.end_time <= after.start_time, (before, after)
    seconds = len(audio) / SAMPLE_RATE
    assert 0 <= words[0].start_time and words[-1].end_time <= seconds
    assert abs(words[-1].end_time - end_of_speech(audio)) <= 0.1, (words[-1], end_of_speech(audio))
    # each chunk's words lie inside its own stretch of audio: pauses and joins are counted
    offsets = [start / SAMPLE_RATE for start, _ in chunks] + [seconds]
    for word in words:
        chunk = max(i for i, start in enumerate(offsets[:-1]) if start <= word.start_time)
        assert word.end_time <= offsets[chunk + 1] + 1e-6, word
    paragraph = next(w for w in words if w.word == "Ships")
    lamp = next(w for w in words if w.word.startswith("lamp"))
    assert paragraph.start_time - lamp.end_time >= 0.3 / speed  # the paragraph pause lies between them


def test_speed_shortens_the_timings(service: SpeechService) -> None:
    text = "Timing follows the speed of the voice."
    _, normal, _ = speak(service, text)
    _, fast, _ = speak(service, text, speed=1.5)
    assert [w.word for w in normal] == [w.word for w in fast]
    ratio = fast[-1].end_time / normal[-1].end_time
    assert 0.55 < ratio < 0.8, ratio


@pytest.mark.slow
def test_onnx_and_torch_backends_agree(service: SpeechService, torch_data_dir) -> None:
    """The int8 ONNX model and the torch backend on the dequantized fp16 weights of the same model."""
    torch_service = SpeechService(Settings(data_dir=torch_data_dir, threads=2, device="cpu"))
    try:
        differences = []
        for text in ENGLISH[:3]:
            _, onnx_words, _ = speak(service, text)
            _, torch_words, _ = speak(torch_service, text)
            assert [w.word for w in onnx_words] == [w.word for w in torch_words]
            differences += [abs(a.start_time - b.start_time) for a, b in zip(onnx_words, torch_words)]
            differences += [abs(a.end_time - b.end_time) for a, b in zip(onnx_words, torch_words)]
    finally:
        torch_service.close()
    share = sum(d <= 0.025 + 1e-9 for d in differences) / len(differences)
    print(f"\nONNX int8 vs torch fp16-dequantized: {len(differences)} word boundaries, "
          f"{share:.1%} within 25 ms, median {statistics.median(differences) * 1000:.0f} ms, "
          f"p90 {np.percentile(differences, 90) * 1000:.0f} ms, max {max(differences) * 1000:.0f} ms")
    # fp16-dequantized weights are not the int8 ones: durations differ by about a frame here and there
    assert statistics.median(differences) <= 0.025 + 1e-6 and float(np.percentile(differences, 90)) <= 0.1


# -- accuracy against Whisper --------------------------------------------------------------------

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


def fold(word: str) -> str:
    plain = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in plain if c.isalnum())


def start_errors(ours: list[WordTime], theirs: list[tuple[str, float, float]],
                 joins: list[float] = ()) -> tuple[list[float], list[float], int]:
    """|start difference| of the words both sides agree on (aligned by their spelling): of the words
    that begin a chunk after the first (at ``joins``, seconds), of the others, and how many of the
    former Whisper starts before their chunk's audio begins (where that word is not: an error of
    Whisper's, which gives the silence and fade before a word to the word)."""
    a, b = [fold(w.word) for w in ours], [fold(w) for w, _, _ in theirs]
    matcher = SequenceMatcher(a=a, b=b, autojunk=False)
    join_of = {min(range(len(ours)), key=lambda i: abs(ours[i].start_time - join)): join for join in joins}
    at_joins, others, impossible = [], [], 0
    for i, j, n in matcher.get_matching_blocks():
        for k in range(n):
            error = abs(ours[i + k].start_time - theirs[j + k][1])
            if i + k in join_of:
                at_joins.append(error)
                impossible += theirs[j + k][1] < join_of[i + k]
            else:
                others.append(error)
    return at_joins, others, impossible


def ms(errors: list[float]) -> str:
    return f"median {statistics.median(errors) * 1000:.0f} ms, p90 {np.percentile(errors, 90) * 1000:.0f} ms"


@pytest.mark.slow
@pytest.mark.long
def test_word_starts_agree_with_whisper(service: SpeechService, transcriber) -> None:
    cases = [("en", "a", "af_heart", 1.0, ENGLISH), ("en", "a", "af_heart", 1.5, ENGLISH),
             ("es", "e", "ef_dora", 1.0, SPANISH), ("fr", "f", "ff_siwis", 1.0, FRENCH)]
    report, failures = [], []
    for language, lang, voice, speed, sentences in cases:
        at_joins, others, impossible, total = [], [], 0, 0
        for sentence in sentences:
            audio, words, chunks = speak(service, sentence, voice=voice, speed=speed, lang=lang)
            total += len(words)
            joins = [start / SAMPLE_RATE for start, _ in chunks[1:]]
            j, o, x = start_errors(words, transcriber.word_times(audio, language), joins)
            at_joins, others, impossible = at_joins + j, others + o, impossible + x
        every = at_joins + others
        report.append(f"{language} speed {speed}: {len(every)}/{total} words matched, |start difference| "
                      f"{ms(every)}; inside chunks ({len(others)}) {ms(others)}"
                      + (f"; first words of chunks ({len(at_joins)}) {ms(at_joins)}, Whisper's start "
                         f"before the chunk's audio for {impossible}" if at_joins else ""))
        if statistics.median(others) > 0.080 or np.percentile(others, 90) > 0.200:
            failures.append(language)  # the target, where Whisper can be a judge
        if statistics.median(every) > 0.080 or np.percentile(every, 90) > 0.300:
            failures.append(language)
    print("\n" + "\n".join(report))
    # Measured 2026-12-02 (af_heart, ef_dora, ff_siwis): en 1.0 every word median 52 / p90 224 ms,
    # inside chunks 50 / 137; the first words of chunks 231 / 314, Whisper placing them before the
    # join, inside the audio of the chunk before.
    assert not failures, report
