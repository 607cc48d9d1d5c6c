"""Real speech from the real int8 v1.0 model: durations, loudness, mixing, speed, long input."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest

from kokoro_server.errors import FileProblemError, InvalidInputError, InvalidVoiceSpecError, VoiceNotFoundError
from kokoro_server.service import SpeechRequest, SpeechService
from kokoro_server.text.chunk import MAX_PIECE_CHARS, ChunkPlan
from tests.support.audio import SAMPLE_RATE, assert_speech_like, rms
from tests.support.engine import counted_front_end, counted_synthesis

PARAGRAPH = ("The old lighthouse keeper climbed the stairs every evening at dusk. "
             "He polished the great lens, trimmed the wick, and watched the ships pass safely by.")  # 29 words


@pytest.mark.parametrize("voice", ["af_heart", "am_michael"])
def test_english_paragraph_is_real_speech(service: SpeechService, voice: str) -> None:
    audio = service.synthesize(SpeechRequest(text=PARAGRAPH, voice=voice))
    # 29 words of prose: about 2-3.5 words per second of speech.
    assert_speech_like(audio, min_seconds=7.0, max_seconds=15.0)


def test_speed_changes_duration(service: SpeechService) -> None:
    text = "Speed changes how long this sentence takes to say."
    normal = service.synthesize(SpeechRequest(text=text, voice="af_heart"))
    fast = service.synthesize(SpeechRequest(text=text, voice="af_heart", speed=2.0))
    slow = service.synthesize(SpeechRequest(text=text, voice="af_heart", speed=0.5))
    assert 0.4 < len(fast) / len(normal) < 0.65
    assert 1.6 < len(slow) / len(normal) < 2.4
    assert_speech_like(fast, min_seconds=0.5, max_seconds=3.0)


def test_mixing_changes_the_voice_between_its_parts(service: SpeechService) -> None:
    text = "Mixing voices blends their character."
    style_row = 20

    def pack(spec: str) -> np.ndarray:
        return service.prepare(SpeechRequest(text=text, voice=spec)).pack

    bella, michael = pack("af_bella"), pack("am_michael")
    mixed = pack("af_bella(1)+am_michael(1)")
    np.testing.assert_allclose(mixed[style_row], (bella[style_row] + michael[style_row]) / 2, atol=1e-6)
    a = service.synthesize(SpeechRequest(text=text, voice="af_bella"))
    m = service.synthesize(SpeechRequest(text=text, voice="af_bella(1)+am_michael(1)"))
    assert_speech_like(m, min_seconds=1.0, max_seconds=5.0)
    n = min(len(a), len(m))
    assert not np.allclose(a[:n], m[:n], atol=1e-3), "a mix must sound different from one of its parts"
    again = service.synthesize(SpeechRequest(text=text, voice="af_bella"))
    np.testing.assert_array_equal(a, again)  # deterministic: the difference above is the mix


@pytest.mark.parametrize("voice, text", [
    ("bf_emma", "The weather in London was rather grey today."),
    ("ef_dora", "Hola, ¿cómo estás? Hoy hace buen tiempo."),
    ("ff_siwis", "Bonjour, je m'appelle Marie et j'habite à Paris."),
    ("if_sara", "Buongiorno, oggi è una bella giornata."),
    ("pf_dora", "Olá, tudo bem? Hoje o dia está bonito."),
    ("hf_alpha", "नमस्ते, आप कैसे हैं?"),
    ("jf_alpha", "こんにちは、今日はいい天気ですね。"),
    ("zf_xiaobei", "你好，今天天气很好。"),
])
def test_other_languages_speak(service: SpeechService, voice: str, text: str) -> None:
    audio = service.synthesize(SpeechRequest(text=text, voice=voice))
    assert_speech_like(audio, min_seconds=0.8, max_seconds=8.0)


def test_unsupported_language_is_a_clear_error(service: SpeechService) -> None:
    with pytest.raises(InvalidInputError, match="language 'x' is not supported offline"):
        service.prepare(SpeechRequest(text="Hello", voice="af_heart", lang="x"))
    # v0.19 has no weights in this data dir: the missing weights are reported first (424), naming the file
    with pytest.raises(FileProblemError, match="v0_19"):
        service.prepare(SpeechRequest(text="Hello", voice="af", lang="j", model="v0_19"))


def test_language_override(service: SpeechService) -> None:
    prepared = service.prepare(SpeechRequest(text="Bonjour", voice="af_heart", lang="f"))
    assert prepared.lang == "f"


@pytest.mark.parametrize("request_, error, match", [
    (SpeechRequest(text="", voice="af_heart"), InvalidInputError, "empty"),
    (SpeechRequest(text="   \n ", voice="af_heart"), InvalidInputError, "empty"),
    (SpeechRequest(text="Hi", voice="af_nobody"), VoiceNotFoundError, "af_nobody"),
    (SpeechRequest(text="Hi", voice="af_heart(2"), InvalidVoiceSpecError, "malformed"),
    (SpeechRequest(text="Hi", voice="af_heart+"), InvalidVoiceSpecError, "malformed"),
    (SpeechRequest(text="Hi", voice="af_heart", speed=0.1), InvalidInputError, "speed"),
    (SpeechRequest(text="Hi", voice="af_heart", speed=5), InvalidInputError, "speed"),
])
def test_bad_requests_fail_before_any_audio(service: SpeechService, request_: SpeechRequest,
                                            error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        service.prepare(request_)


def test_text_without_phonemes_is_a_clear_error(service: SpeechService) -> None:
    prepared = service.prepare(SpeechRequest(text="*** ※ ... ---", voice="af_heart"))
    with pytest.raises(InvalidInputError, match="no speakable text"):
        list(service.stream(prepared))


@pytest.mark.timeout(600)  # 5,000 characters through the model: 3.5 minutes on a loaded 2-core machine
def test_long_input_streams_in_chunks_with_bounded_memory(service: SpeechService) -> None:
    """5,000+ characters at 4x speed: chunks arrive one by one; Python memory stays flat: what is kept
    between chunks does not grow, and the peak while a chunk is made (the engine's intermediate
    arrays: the native kernels hand theirs over as numpy arrays) is the same late in the stream as
    early on."""
    sentences = [f"This is sentence number {i} of a long chapter that keeps going for a while." for i in range(70)]
    text = " ".join(sentences)
    assert len(text) > 5000
    prepared = service.prepare(SpeechRequest(text=text, voice="af_heart", speed=4.0))
    stream = service.stream(prepared)
    first = next(stream)  # the first chunk is short: audio starts before the rest is synthesized
    assert first.chunk.index == 0 and len(first.chunk.tokens) < 80
    tracemalloc.start()
    try:
        total_samples = first.audio.size
        kept: list[int] = []  # traced memory between chunks (what the stream holds on to)
        peaks: list[int] = []  # the peak while each chunk was made
        for piece in stream:
            total_samples += piece.audio.size
            assert len(piece.chunk.tokens) <= 510
            assert rms(piece.audio) > 0.01
            del piece
            current, peak = tracemalloc.get_traced_memory()
            kept.append(current)
            peaks.append(peak)
            tracemalloc.reset_peak()
    finally:
        tracemalloc.stop()
    count = len(kept) + 1
    seconds = total_samples / SAMPLE_RATE
    assert count >= 8, f"only {count} chunks"
    assert seconds > 45, f"{seconds:.0f}s of audio for {len(text)} characters at 4x"
    held = total_samples * 4  # float32 bytes if all audio were kept
    warm = kept[2:]  # after the first chunks (caches filled)
    assert max(warm) - warm[0] < held / 10, f"kept {max(warm) - warm[0]} more bytes; {held} bytes of audio produced"
    half = len(peaks) // 2
    early, late = max(peaks[2:half]), max(peaks[half:])
    assert late <= 1.25 * early + 2_000_000, f"peak per chunk grew from {early} to {late} bytes"


# -- cost: the work grows with the input, counted ---------------------------------------------------

COST_SHAPES = {
    "prose": lambda n: ("The keeper climbed the stairs at dusk, and he lit the lamp for the ships. " * n)[:n],
    "numbers": lambda n: ("Pay $1,234.50 on 2024-01-03 at 9:30am, 12% off. " * n)[:n],
    "one long word": lambda n: "x" * n,
    "markup pauses": lambda n: ("Hi [pause:0.2s] there [pause:150ms] " * n)[:n],
    "ssml": lambda n: "<speak>" + "<s>Hi <break time='100ms'/> you</s>" * (n // 40) + "</speak>",
}


@pytest.mark.parametrize("shape", list(COST_SHAPES))
def test_front_end_work_grows_in_proportion_to_the_input(service: SpeechService, shape: str) -> None:
    """Characters phonemized and tokens to synthesize, counted at two input sizes: each in proportion
    to the input (no text phonemized again and again, no reading that multiplies without bound)."""
    work = {}
    for n in (800, 3200):
        text = COST_SHAPES[shape](n)
        prepared = service.prepare(SpeechRequest(text=text, voice="af_heart"))
        with counted_front_end(service) as calls:
            chunks = list(service.chunks(prepared))
        tokens = sum(len(c.tokens) for c in chunks)
        assert sum(calls) <= 1.5 * len(prepared.text) + 100, (shape, sum(calls), len(prepared.text))
        assert max(calls) <= MAX_PIECE_CHARS  # no phonemizer call holds the front end for long
        assert tokens <= 8 * len(text), (shape, tokens, len(text))
        work[n] = (len(text), sum(calls), tokens)
    (small, small_chars, small_tokens), (large, large_chars, large_tokens) = work[800], work[3200]
    growth = large / small
    assert large_chars <= 1.25 * growth * max(small_chars, 1) + 100, work
    assert large_tokens <= 1.25 * growth * max(small_tokens, 1) + 100, work


def test_the_tokens_synthesized_are_the_chunks_tokens(service: SpeechService) -> None:
    """What the cost test counts is what the model is given: every chunk's tokens, once."""
    text = COST_SHAPES["numbers"](120)
    prepared = service.prepare(SpeechRequest(text=text, voice="af_heart", speed=4.0))
    expected = [len(c.tokens) for c in service.chunks(prepared) if c.tokens]
    with counted_synthesis(service) as calls:
        list(service.stream(prepared))
    assert calls == expected


def test_stream_is_lazy(service: SpeechService) -> None:
    """Nothing past what the consumer takes is synthesized (what lets a server stop on disconnect):
    the model is called once per chunk taken (one ahead at most), not for the whole text."""
    text = " ".join(["A short sentence."] * 200)
    prepared = service.prepare(SpeechRequest(text=text, voice="af_heart", speed=4.0))
    with counted_synthesis(service) as calls:
        stream = service.stream(prepared)
        taken = list(itertools.islice(stream, 2))
        made = len(calls)
        getattr(stream, "close", lambda: None)()  # a generator: release the model
    assert len(taken) == 2
    assert 2 <= made <= 3, f"{made} model calls for 2 chunks taken"
    assert len(list(service.chunks(prepared))) >= 10  # what an eager stream would have synthesized


# -- joins, measured by a silence detector of the test's own --------------------------------------

SILENT_DBFS = -50.0  # a 2 ms frame quieter than this (RMS) is silence
FRAME = SAMPLE_RATE // 500
# docs/serving.md ("Streaming and chunks"): a join keeps 40 ms of the model's silence before the sound and 60 ms after
# it, then adds the pause of its boundary (divided by speed): none where a phrase was cut, 0.1 s
# after a clause, 0.3 s after a sentence, 0.6 s between paragraphs.
KEPT_S = 0.04 + 0.06
PAUSE_S = {"word": 0.0, "clause": 0.1, "sentence": 0.3, "paragraph": 0.6}


def silent_edges(audio: np.ndarray) -> tuple[float, float]:
    """Seconds of silence before the first sounding frame and after the last one."""
    frames = audio[: len(audio) // FRAME * FRAME].reshape(-1, FRAME).astype(np.float64)
    level = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-20)
    sounding = np.flatnonzero(level > SILENT_DBFS)
    assert sounding.size, "no sound at all"
    return sounding[0] * FRAME / SAMPLE_RATE, (len(audio) - (sounding[-1] + 1) * FRAME) / SAMPLE_RATE


HARBOUR = ("The harbour town woke slowly on the first morning of spring, and the fishermen who had waited "
           "all winter pushed their boats into the grey water. Nobody spoke.\n\nIn the evening, the lamps were lit.")
SENTENCES = "The boats were ready at dawn. Nobody on the pier said a word. The gulls were quiet too."
SMALL_PLAN = ChunkPlan(first_tokens=24, target_tokens=30, max_tokens=60)  # a chunk per sentence here


@pytest.mark.parametrize("text, plan, speed, boundaries", [
    (HARBOUR, ChunkPlan(), 1.0, {"word", "clause", "paragraph"}),
    (HARBOUR, ChunkPlan(), 1.5, {"word", "clause", "paragraph"}),
    (SENTENCES, SMALL_PLAN, 1.0, {"sentence"}),
], ids=["phrases", "phrases-1.5x", "sentences"])
def test_each_join_is_the_pause_of_its_boundary_not_the_models_edge_silence(
        service: SpeechService, text: str, plan: ChunkPlan, speed: float, boundaries: set[str]) -> None:
    """The model pads every utterance with ~0.3 s of silence before and ~0.45 s after; a join keeps
    a little of it and adds its boundary's pause (none where a phrase was cut)."""
    request = SpeechRequest(text=text, voice="af_heart", speed=speed, chunk_plan=plan)
    chunks = list(service.stream(service.prepare(request)))
    joins = [c.chunk.boundary for c in chunks]
    assert boundaries <= set(joins[:-1]) and joins[-1] == "end", joins

    assert silent_edges(chunks[0].audio)[0] <= 0.05  # the first audio starts at once
    for before, after in zip(chunks, chunks[1:]):
        gap = silent_edges(before.audio)[1] + silent_edges(after.audio)[0]
        expected = KEPT_S + PAUSE_S[before.chunk.boundary] / speed
        assert gap == pytest.approx(expected, abs=0.02), (before.chunk.text, before.chunk.boundary, gap, expected)
    assert silent_edges(chunks[-1].audio)[1] <= 0.08  # 60 ms kept, and the fade below the 2 ms frames
