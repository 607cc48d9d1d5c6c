"""Chunking is pure: tested with a character-level stand-in for the phonemizer (1 char = 1 token)."""

from __future__ import annotations

import itertools

import pytest

from kokoro_server.text.chunk import ChunkPlan, Chunker, split_clauses, split_sentences


def chars(text: str) -> str:
    return text


def tokens(phonemes: str) -> list[int]:
    return [ord(c) for c in phonemes]


def make(plan: ChunkPlan = ChunkPlan(first_tokens=20, target_tokens=120, max_tokens=200)) -> Chunker:
    return Chunker(chars, tokens, plan)


@pytest.mark.parametrize("text, expected", [
    ("One. Two! Three?", [("One.", "sentence"), ("Two!", "sentence"), ("Three?", "end")]),
    ("He said \"stop.\" Then left.", [("He said \"stop.", "sentence"), ("Then left.", "end")]),
    ("Para one.\n\nPara two.", [("Para one.", "paragraph"), ("Para two.", "end")]),
    ("Line one\nline two", [("Line one", "sentence"), ("line two", "end")]),
    ("No end", [("No end", "end")]),
    ("   ", []),
    ("Wait… what?", [("Wait…", "sentence"), ("what?", "end")]),
])
def test_split_sentences(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(s.text, s.boundary) for s in split_sentences(text)] == expected


def test_split_clauses() -> None:
    assert split_clauses("First, second; third: fourth — fifth") == ["First,", "second;", "third:", "fourth —", "fifth"]


def test_first_chunk_is_a_short_clause() -> None:
    text = ("When the morning came, the travellers left the inn and walked north. " * 6).strip()
    chunks = list(make().chunks(split_sentences(text)))
    assert chunks[0].text == "When the morning came,"
    assert chunks[0].boundary == "clause"
    assert chunks[1].text == "the travellers left the inn"  # cut before a function word ("and")
    assert all(len(c.tokens) <= 200 for c in chunks)
    assert " ".join(c.text for c in chunks).split() == text.split()  # nothing lost or reordered


def test_a_long_sentence_without_commas_is_cut_before_function_words() -> None:
    text = "The tired old captain finally walked along the harbour wall towards the lighthouse at dusk."
    chunks = list(make().chunks(split_sentences(text)))
    assert chunks[0].text == "The tired old captain" and chunks[0].boundary == "clause"
    assert [c.text.split()[0] for c in chunks[1:]] == ["finally", "towards"]  # a function word starts a phrase
    assert " ".join(c.text for c in chunks) == text


def test_chunks_grow_to_the_target_so_playback_never_waits() -> None:
    plan = ChunkPlan(first_tokens=20, growth=1.6, target_tokens=120, max_tokens=200)
    text = " ".join(["The rain fell on the town."] * 40)
    chunks = list(make(plan).chunks(split_sentences(text)))
    sizes = [len(c.tokens) for c in chunks]
    assert sizes[0] <= 26 and max(sizes) > 100  # short first, then several sentences per chunk
    for i, size in enumerate(sizes):
        assert size <= max(plan.budget(i), 26), sizes  # a lone sentence may top a small budget
    grown = sizes[: sizes.index(max(sizes)) + 1]
    assert grown == sorted(grown), sizes
    assert " ".join(c.text for c in chunks).split() == text.split()


def test_overlong_sentence_is_split_at_clauses_then_words() -> None:
    clause = "a fairly long clause of words here"
    text = ", ".join([clause] * 12) + "."
    chunks = list(make().chunks(split_sentences("Hi. " + text)))
    assert all(len(c.tokens) <= 200 for c in chunks)
    words = " ".join(c.text for c in chunks).split()
    assert words == ("Hi. " + text).split()
    no_clauses = " ".join(["word"] * 200)
    chunks = list(make().chunks(split_sentences(no_clauses)))
    assert all(len(c.tokens) <= 200 for c in chunks) and " ".join(c.text for c in chunks).split() == no_clauses.split()


def test_a_giant_word_is_cut_by_tokens() -> None:
    chunks = list(make().chunks(split_sentences("x" * 1000)))
    assert all(0 < len(c.tokens) <= 200 for c in chunks)
    assert "".join(c.text for c in chunks) == "x" * 1000


def test_paragraph_break_ends_a_chunk_and_sets_the_pause() -> None:
    chunks = list(make().chunks(split_sentences("Intro here.\n\nFirst para.\n\nSecond para.")))
    assert [c.boundary for c in chunks] == ["paragraph", "paragraph", "end"]
    assert chunks[0].pause_seconds > chunks[-1].pause_seconds


def test_chunks_are_produced_lazily_from_huge_input() -> None:
    """The first chunks come out without reading the whole (here: endless) text."""
    endless = (f"Sentence number {i} is here." for i in itertools.count())
    sentences = (s for text in endless for s in split_sentences(text))
    first = list(itertools.islice(make().chunks(sentences), 5))
    assert len(first) == 5 and first[0].index == 0 and first[4].index == 4


def test_pieces_with_nothing_to_say_are_skipped() -> None:
    chunks = list(make().chunks(split_sentences("... !!! Hello there. ---")))
    assert [c.text for c in chunks] == ["Hello there."]
