"""Synthesize varied English, transcribe it with offline Whisper, bound the word error rate."""

from __future__ import annotations

import re

import numpy as np

import pytest

from kokoro_server.service import SpeechRequest, SpeechService
from kokoro_server.languages import normalize_text
from tests.support.whisper import tally, word_errors, words

SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please remember to bring your umbrella, because it might rain this afternoon.",
    "The library opens at 9:30am and closes at 6pm on weekdays.",
    "Our team sold 1,250 tickets for the concert last Saturday.",
    "The new laptop costs $1,299.99, which is more than I expected.",
    "She was born on 2001-07-04 in a small town by the sea.",
    "Dr. Smith and Mr. Brown met the mayor at the city hall.",
    "The recipe needs 2kg of flour and 500ml of warm milk.",
    "Prices rose by 3.5% in the first quarter of the year.",
    "He finished 2nd in the race, just behind his younger sister.",
    "Children were laughing and playing in the park until sunset.",
    "Scientists believe the ancient forest is over three thousand years old.",
]


def spoken_words(text: str) -> list[str]:
    """Words as they are said: Whisper's "9.30 a.m." and our "9:30am" both become "nine thirty am"."""
    text = re.sub(r"(\d{1,2})\.(\d{2})(?=\s?[ap]\.?\s?m)", r"\1:\2", text)
    text = re.sub(r"\b([ap])\.\s?m\.", r"\1m", text, flags=re.IGNORECASE)
    spoken = " ".join(words(normalize_text(text)))
    return re.sub(r"\b([ap]) m\b", r"\1m", spoken).split()


@pytest.mark.slow
@pytest.mark.parametrize("voice", ["af_heart"])
def test_word_error_rate(service: SpeechService, transcriber, voice: str) -> None:
    results = []
    for sentence in SENTENCES:
        heard = transcriber(service.synthesize(SpeechRequest(text=sentence, voice=voice)))
        # Compare words as spoken: numbers, dates and money in the reference are normalized the same way.
        results.append((spoken_words(sentence), spoken_words(heard), f"{sentence!r} -> {heard.strip()!r}"))
    wer, report = tally(results)
    print("\n" + report)
    assert wer < 0.06, report


PARAGRAPH = (
    "The old lighthouse keeper climbed the narrow stairs every evening at dusk to light the lamp for the "
    "passing ships. He polished the great glass lens, trimmed the wick, and watched the fishing boats come "
    "home safely across the dark water. Nobody in the village could remember a single night when his light "
    "had failed them."
)


@pytest.mark.slow
def test_streamed_paragraph_with_short_first_chunks_stays_intelligible(service: SpeechService, transcriber) -> None:
    """Cutting the first sentence into short phrases (for fast first audio) must not hurt the words."""
    prepared = service.prepare(SpeechRequest(text=PARAGRAPH, voice="af_heart"))
    pieces = list(service.stream(prepared))
    assert len(pieces) >= 3 and len(pieces[0].chunk.tokens) <= 40
    audio = np.concatenate([p.audio for p in pieces])
    heard = transcriber(audio)
    reference, hypothesis = spoken_words(PARAGRAPH), spoken_words(heard)
    wer = word_errors(reference, hypothesis) / len(reference)
    print(f"\nstreamed paragraph: {len(pieces)} chunks {[len(p.chunk.tokens) for p in pieces]}, WER {wer:.3f}: {heard!r}")
    assert wer < 0.06, heard
