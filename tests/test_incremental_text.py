"""The streaming text buffer (text/incremental.py): text that arrives in pieces, as a language model
sends it, is cut into parts that read exactly as the whole text reads, at phrase ends, never inside
a token that is still arriving. The reading is the real one (markup parsed, English normalization)."""

from __future__ import annotations

import random
import re

import pytest

from kokoro_server.serving.live_speech import reading
from kokoro_server.text.incremental import Part, TextStream, boundary_after
from kokoro_server.text.normalize import DEFAULT_OPTIONS

ANSWER = ("Sure! The meeting with Dr. Smith is on Jan. 5th at 3:30 p.m., and the ticket costs $12.50. "
          "It's about 2.5 km from the station, e.g. a short walk; bring your ID.\n\n"
          "Next, [pause:0.5s] we can talk about the budget: roughly 1,200 dollars, or 15% more than last year.")


@pytest.fixture(scope="module")
def read(service):
    return reading(service, "a", DEFAULT_OPTIONS)


def collapsed(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def stream_in(read, pieces: list[str]) -> tuple[TextStream, list[Part]]:
    stream = TextStream(read)
    parts: list[Part] = []
    for piece in pieces:
        stream.append(piece)
        if (part := stream.take_phrases()) is not None:
            parts.append(part)
    if (part := stream.take_all(final=True)) is not None:
        parts.append(part)
    return stream, parts


def random_pieces(text: str, rng: random.Random) -> list[str]:
    pieces, position = [], 0
    while position < len(text):
        size = rng.randint(1, 7)
        pieces.append(text[position:position + size])
        position += size
    return pieces


def test_parts_read_as_the_whole_text_whatever_the_pieces(read) -> None:
    """Any split of the input (1-7 characters a piece, like LLM tokens): the parts are consecutive,
    cover the text, and read one by one exactly as the whole text reads."""
    whole = collapsed(read(ANSWER))
    for seed in range(6):
        stream, parts = stream_in(read, random_pieces(ANSWER, random.Random(seed)))
        assert [p.start for p in parts] == [0, *(p.end for p in parts[:-1])]
        assert parts[-1].end == len(ANSWER) and stream.text == ANSWER
        assert collapsed(" ".join(read(ANSWER[p.start:p.end]) for p in parts)) == whole, f"seed {seed}"
        assert len(parts) >= 5, "phrases were cut off while the text was arriving"


def test_a_token_still_arriving_is_not_cut_or_read_early(read) -> None:
    stream = TextStream(read)
    stream.append("It costs $1")
    stream.append("2.50, ")
    assert stream.take_phrases() is None  # the comma has no whole word after it yet
    stream.append("says Dr")
    part = stream.take_phrases()
    assert part == Part(0, 16, "clause") and stream.text[:16] == "It costs $12.50,"
    stream.append(". Smith. And ")
    part = stream.take_phrases()
    assert part is not None and stream.text[part.start:part.end] == " says Dr. Smith."
    assert part.boundary == "sentence"  # and never after "Dr.": that is "Doctor Smith"


def test_markup_is_never_cut_inside_a_tag(read) -> None:
    stream, parts = stream_in(read, ["Wait, [pau", "se:1s] then, ", "[voice:am_adam] ", "go on. ", "Done. "])
    texts = [stream.text[p.start:p.end] for p in parts]
    assert all(t.count("[") == t.count("]") for t in texts), texts


@pytest.mark.parametrize(("text", "boundary"), [
    ("One, two ", "clause"), ("One. Two ", "sentence"), ("One\n\nTwo ", "paragraph"), ("One two three four ", None)])
def test_phrase_ends_keep_their_boundary(read, text: str, boundary: str | None) -> None:
    stream = TextStream(read)
    stream.append(text)
    part = stream.take_phrases()
    assert (part.boundary if part else None) == boundary
    assert boundary_after("no mark") == "word"


def test_a_length_cut_falls_between_words_and_reads_the_same(read) -> None:
    text = "the quick brown fox jumps over the lazy dog and runs far away into the deep green wood "
    stream = TextStream(read)
    stream.append(text)
    assert stream.take_phrases() is None
    part = stream.take_words(40)
    assert part is not None and part.boundary == "word" and part.end - part.start >= 40
    assert text[part.end] == " " and collapsed(read(text[:part.end]) + " " + read(text[part.end:])) == \
        collapsed(read(text))


def test_a_pause_of_the_sender_lets_a_finished_phrase_go(read) -> None:
    """A language model that stops after a sentence (to call a tool): the sentence is taken as it
    reads now; a word that may still be arriving is not."""
    stream = TextStream(read)
    stream.append("Let me look that up for you.")
    assert stream.take_phrases() is None  # no word after the mark yet
    assert stream.take_settled() == Part(0, 28, "sentence")
    stream.append(" It costs $1")
    assert stream.take_settled() is None
