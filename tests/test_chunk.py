"""Chunking is pure: tested with a character-level stand-in for the phonemizer (1 char = 1 token)."""

from __future__ import annotations

import itertools

import pytest

from kokoro_server.languages import LANGUAGES
from kokoro_server.text.chunk import MAX_PIECE_CHARS, ChunkPlan, Chunker, cap_pieces, split_clauses, split_sentences
from kokoro_server.text.document import Document, Text, plain


def chars(text: str) -> str:
    return text


def tokens(phonemes: str) -> list[int]:
    return [ord(c) for c in phonemes]


ENGLISH = LANGUAGES["a"].chunking  # where English sentences may be cut: the English pack's rules
LEADING_WORDS = ENGLISH.leading


def make(plan: ChunkPlan = ChunkPlan(first_tokens=20, target_tokens=120, max_tokens=200)) -> Chunker:
    return Chunker(chars, tokens, plan, rules=ENGLISH)


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
    chunks = list(make().chunks(plain(text)))
    assert chunks[0].text == "When the morning came,"
    assert chunks[0].boundary == "clause"
    assert chunks[1].text == "the travellers left the inn"  # cut before a function word ("and")
    assert all(len(c.tokens) <= 200 for c in chunks)
    assert " ".join(c.text for c in chunks).split() == text.split()  # nothing lost or reordered


def test_a_long_sentence_without_commas_is_cut_before_function_words() -> None:
    text = "The tired old captain finally walked along the harbour wall towards the lighthouse at dusk."
    chunks = list(make().chunks(plain(text)))
    assert chunks[0].text == "The tired old captain" and chunks[0].boundary == "word"
    assert [c.text.split()[0] for c in chunks[1:]] == ["finally", "towards"]  # a function word starts a phrase
    assert " ".join(c.text for c in chunks) == text


@pytest.mark.parametrize("text", [
    "Scientists believe the ancient forest is over three thousand years old.",  # was "... believe the | ancient"
    "The museum will open a new exhibition about the history of flight next month.",  # was "... open a | new"
    "My grandmother's old wooden kitchen table still stands there today.",
    "Their enormous golden retriever happily chased every single seagull.",
])
def test_a_phrase_is_never_cut_right_after_an_article_or_a_preposition(service, text: str) -> None:
    from kokoro_server.service import SpeechRequest

    chunks = list(service.chunks(service.prepare(SpeechRequest(text=text, voice="af_heart"))))  # the real G2P
    assert len(chunks) >= 2 and " ".join(c.text for c in chunks) == text
    for chunk in chunks[:-1]:
        assert chunk.text.split()[-1].lower() not in LEADING_WORDS, [c.text for c in chunks]


def test_chunks_grow_to_the_target_so_playback_never_waits() -> None:
    plan = ChunkPlan(first_tokens=20, growth=1.6, target_tokens=120, max_tokens=200)
    text = " ".join(["The rain fell on the town."] * 40)
    chunks = list(make(plan).chunks(plain(text)))
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
    chunks = list(make().chunks(plain("Hi. " + text)))
    assert all(len(c.tokens) <= 200 for c in chunks)
    words = " ".join(c.text for c in chunks).split()
    assert words == ("Hi. " + text).split()
    no_clauses = " ".join(["word"] * 200)
    chunks = list(make().chunks(plain(no_clauses)))
    assert all(len(c.tokens) <= 200 for c in chunks) and " ".join(c.text for c in chunks).split() == no_clauses.split()


def test_a_giant_word_is_cut_by_tokens() -> None:
    chunks = list(make().chunks(plain("x" * 1000)))
    assert all(0 < len(c.tokens) <= 200 for c in chunks)
    assert "".join(c.text for c in chunks) == "x" * 1000


def test_paragraph_break_ends_a_chunk_and_sets_the_pause() -> None:
    chunks = list(make().chunks(plain("Intro here.\n\nFirst para.\n\nSecond para.")))
    assert [c.boundary for c in chunks] == ["paragraph", "paragraph", "end"]
    assert chunks[0].pause_seconds > chunks[-1].pause_seconds


def test_chunks_are_produced_lazily_from_huge_input() -> None:
    """The first chunks come out after reading only the start of a huge text."""
    seen: list[str] = []
    text = " ".join(f"Sentence number {i} is here." for i in range(20000))
    chunker = Chunker(lambda t: seen.append(t) or t, tokens)
    first = list(itertools.islice(chunker.chunks(plain(text)), 5))
    assert len(first) == 5 and first[0].index == 0 and first[4].index == 4
    assert sum(map(len, seen)) < 2000 < len(text) // 100


def test_pieces_with_nothing_to_say_are_skipped() -> None:
    chunks = list(make().chunks(plain("... !!! Hello there. ---")))
    assert [c.text for c in chunks] == ["Hello there."]


# -- words: what timestamps read -------------------------------------------------------------

def test_each_chunk_lists_its_words_with_spans_and_tokens() -> None:
    text = "Hello there, my old friend. How are you today?"
    chunks = list(make().chunks(plain(text)))
    words = [w for c in chunks for w in c.words]
    assert [w.text for w in words] == ["Hello", "there", "my", "old", "friend", "How", "are", "you", "today"]
    for chunk in chunks:
        for word in chunk.words:
            assert text[word.start:word.end] == word.text
            spoken = "".join(chr(t) for t in chunk.tokens[word.token_start:word.token_end])
            assert spoken == word.text  # the stand-in phonemizer speaks each word as its letters
        spans = [(w.token_start, w.token_end) for w in chunk.words]
        assert spans == sorted(spans) and all(a < b for a, b in spans)


def test_words_of_normalized_text_keep_the_text_as_written() -> None:
    from kokoro_server.service import SpeechService
    from kokoro_server.text.normalize import DEFAULT_OPTIONS

    text = "I paid $5 on 2020-01-05, Dr. Smith said."
    document = SpeechService.normalized(plain(text), DEFAULT_OPTIONS)
    words = [w for c in make().chunks(document) for w in c.words]
    assert [w.text for w in words] == ["I", "paid", "$5", "on", "2020-01-05", "Dr.", "Smith", "said"]
    assert all(text[w.start:w.end] == w.text for w in words)


@pytest.fixture(scope="module")
def english():
    from kokoro_server.builds import v1_0

    return v1_0.make_phonemizer("a"), v1_0.BUILD.tokenize


def test_misaki_words_cover_their_phonemes(english) -> None:
    phonemize, tokenize = english
    text = "The quick brown fox, who was hungry, jumped over 3 lazy dogs."
    from kokoro_server.service import SpeechService
    from kokoro_server.text.normalize import DEFAULT_OPTIONS

    chunks = list(Chunker(phonemize, tokenize, rules=ENGLISH).chunks(SpeechService.normalized(plain(text), DEFAULT_OPTIONS)))
    assert "".join(c.phonemes for c in chunks).replace(" ", "") == phonemize(
        "The quick brown fox, who was hungry, jumped over three lazy dogs.").replace(" ", "")
    words = [(w, c) for c in chunks for w in c.words]
    assert [w.text for w, _ in words] == ["The", "quick", "brown", "fox", "who", "was", "hungry", "jumped",
                                          "over", "3", "lazy", "dogs"]
    fox, chunk = words[3]
    assert chunk.tokens[fox.token_start:fox.token_end] == tokenize(phonemize("fox").strip())
    for word, chunk in words:  # no word owns a space or the punctuation after it
        owned = chunk.tokens[word.token_start:word.token_end]
        assert owned and tokenize(" ")[0] not in owned and tokenize(",")[0] not in owned


@pytest.mark.parametrize("lang, text, expected", [
    ("e", "Hola, buenos días amigo.", ["Hola", "buenos", "días", "amigo"]),
    ("f", "Bonjour mes amis.", ["Bonjour", "mes", "amis"]),
    ("j", "こんにちは、世界。", ["こんにちは", "世界"]),
    ("z", "你好，世界。", ["你好", "世界"]),
])
def test_other_front_ends_give_words(lang: str, text: str, expected: list[str]) -> None:
    from kokoro_server.builds import v1_0

    chunks = list(Chunker(v1_0.make_phonemizer(lang), v1_0.BUILD.tokenize).chunks(plain(text)))
    words = [w for c in chunks for w in c.words]
    assert [w.text for w in words] == expected
    assert all(c.tokens[w.token_start:w.token_end] for c in chunks for w in c.words)


# -- linear cost ---------------------------------------------------------------------------------

class Counting:
    """The stand-in phonemizer, counting the characters it is given."""

    def __init__(self) -> None:
        self.chars = 0
        self.longest = 0

    def __call__(self, text: str) -> str:
        self.chars += len(text)
        self.longest = max(self.longest, len(text))
        return text


@pytest.mark.parametrize("shape", [
    lambda n: " ".join(["word"] * (n // 5)),  # words, no punctuation at all
    lambda n: "x" * n,  # one giant word
    lambda n: "7" * n,  # digits
    lambda n: ", ".join(["a clause"] * (n // 10)),  # clauses, no sentence end
    lambda n: "字" * n,  # no spaces (Japanese, Mandarin)
])
def test_phonemizer_work_grows_linearly(shape) -> None:
    work = []
    for n in (5_000, 20_000):
        counting = Counting()
        text = shape(n)
        chunks = list(Chunker(counting, tokens).chunks(plain(text)))
        assert all(len(c.tokens) <= ChunkPlan().max_tokens for c in chunks)
        assert counting.longest <= MAX_PIECE_CHARS  # no call holds the front end for more than one piece
        work.append(counting.chars / len(text))
    assert work[0] <= 2.0 and work[1] <= 2.0 and work[1] <= work[0] * 1.1, work


def test_real_english_work_is_linear(english) -> None:
    phonemize, tokenize = english
    calls = []
    text = " ".join(["seven hundred and twelve"] * 200)  # 5000 characters, no punctuation

    def counted(t: str) -> str:
        calls.append(len(t))
        return phonemize(t)
    counted.words = lambda t: (calls.append(len(t)), phonemize.words(t))[1]  # type: ignore[attr-defined]
    chunks = list(Chunker(counted, tokenize).chunks(plain(text)))
    assert sum(calls) <= len(text) and max(calls) <= MAX_PIECE_CHARS
    assert " ".join(w.text for c in chunks for w in c.words) == text


@pytest.mark.parametrize("text", ["a, b c", "x" * 1000, "one two, three; four five " * 40, ""])
def test_cap_pieces_cover_the_text_in_order(text: str) -> None:
    pieces = list(cap_pieces(text, 50))
    assert all(b - a <= 50 for a, b in pieces)
    assert "".join(text[a:b] for a, b in pieces).replace(" ", "") == text.replace(" ", "")


def test_the_budget_stays_at_the_target_however_many_chunks() -> None:
    plan = ChunkPlan()
    assert plan.budget(10_000) == plan.budget(64) == plan.target_tokens
