"""Synthesize varied English, transcribe it with offline Whisper, bound the word error rate."""

from __future__ import annotations

import numpy as np

import pytest

from kokoro_server.service import SpeechRequest, SpeechService
from tests.support.whisper import closest, missed_readings, tally, word_errors, words

# (text, what a person reading it says, written out by hand; {a|b}: spellings Whisper may use for
# the same words; <...>: a reading, which must be heard word for word). Whisper writes numbers as the
# words it heard (tests/support/whisper.py), so a wrong reading of "1,250" or "9:30am" is a miss here.
SENTENCES = [
    ("The quick brown fox jumps over the lazy dog near the river bank.",
     "the quick brown fox jumps over the lazy dog near the {river bank|riverbank}"),
    ("Please remember to bring your umbrella, because it might rain this afternoon.",
     "please remember to bring your umbrella because it might rain this afternoon"),
    ("The library opens at 9:30am and closes at 6pm on weekdays.",
     "the library opens at <nine thirty am> and closes at <six pm> on weekdays"),
    ("Our team sold 1,250 tickets for the concert last Saturday.",
     "our team sold <one thousand two hundred and fifty> tickets for the concert last saturday"),
    ("The new laptop costs $1,299.99, which is more than I expected.",
     "the new laptop costs <one thousand two hundred and ninety-nine dollars and ninety-nine cents> which is "
     "more than i expected"),
    ("She was born on 2001-07-04 in a small town by the sea.",
     "she was born on <july fourth two thousand {and|} one> in a small town by the sea"),
    ("Dr. Smith and Mr. Brown met the mayor at the city hall.",
     "<doctor> smith and <mister> brown met the mayor at the city hall"),
    ("The recipe needs 2kg of flour and 500ml of warm milk.",
     "the recipe needs <two kilograms> of flour and <five hundred milliliters> of warm milk"),
    ("Prices rose by 3.5% in the first quarter of the year.",
     "prices rose by <three point five percent> in the first quarter of the year"),
    ("He finished 2nd in the race, just behind his younger sister.",
     "he finished <second> in the race just behind his younger sister"),
    ("Children were laughing and playing in the park until sunset.",
     "children were laughing and playing in the park until sunset"),
    ("Scientists believe the ancient forest is over three thousand years old.",
     "scientists believe the ancient forest is over three thousand years old"),
]


def heard_against(expected: str, heard: str, label: str) -> tuple[list[str], list[str], str]:
    """(the allowed form nearest to what was heard, the words heard, a report line) for ``tally``;
    the line names the readings that were missed."""
    hypothesis = words(heard)
    reference, _ = closest(expected, hypothesis)
    missed = missed_readings(expected, hypothesis)
    return reference, hypothesis, f"{label!r} -> {heard.strip()!r}" + (f"  MISSED {missed}" if missed else "")


@pytest.mark.slow
@pytest.mark.timeout(600)  # twelve sentences through the model and Whisper
@pytest.mark.parametrize("voice", ["af_heart"])
def test_word_error_rate(service: SpeechService, transcriber, voice: str) -> None:
    results = []
    for sentence, expected in SENTENCES:
        heard = transcriber(service.synthesize(SpeechRequest(text=sentence, voice=voice)))
        results.append(heard_against(expected, heard, sentence))
    wer, report = tally(results)
    print("\n" + report)
    assert wer < 0.06, report
    assert "MISSED" not in report, report  # every number, date, unit and title read as a person would


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
    reference, hypothesis = words(PARAGRAPH), words(heard)  # no numbers: its words as written
    wer = word_errors(reference, hypothesis) / len(reference)
    print(f"\nstreamed paragraph: {len(pieces)} chunks {[len(p.chunk.tokens) for p in pieces]}, WER {wer:.3f}: {heard!r}")
    assert wer < 0.06, heard
