"""Word timing from durations (pure functions) and the caption files built from it."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pytest

from kokoro_server.captions import LINE_CHARS, MAX_SECONDS, MIN_SECONDS, cues, render, to_srt, to_vtt
from kokoro_server.timestamps import FRAME_SECONDS, SOUND_LEAD_FRAMES, StreamClock, WordTime, word_times


@dataclass(frozen=True)
class Word:  # the text layer's contract: the input's word, its characters and its tokens in the chunk
    text: str
    start: int
    end: int
    token_start: int
    token_end: int


def test_frame_is_25_ms() -> None:
    assert FRAME_SECONDS == 0.025


# "Hi, $5 now": tokens h i , ␣ f a i v ␣ d ɑ l ə ɹ z ␣ n aʊ  (the words' own token ranges)
WORDS = [Word("Hi,", 0, 3, 0, 3), Word("$5", 4, 6, 4, 8), Word("$5", 4, 6, 9, 15), Word("now", 7, 10, 16, 18)]


@pytest.mark.parametrize("offset", [0.0, 2.5])
@pytest.mark.parametrize("scale", [1, 3])  # e.g. a slower speed: every duration larger
def test_words_are_heard_from_just_before_their_first_token(offset: float, scale: int) -> None:
    durations = np.array([4] + [2] * 18 + [6]) * scale  # pad, 18 tokens, pad
    times = word_times(WORDS, durations, offset)
    frame = FRAME_SECONDS * scale
    lead = SOUND_LEAD_FRAMES * FRAME_SECONDS  # the decoder sounds a phoneme before its frames
    assert lead == pytest.approx(0.075)
    assert [t.word for t in times] == ["Hi,", "$5", "now"]  # the two read words of "$5" are one
    assert [(t.char_start, t.char_end) for t in times] == [(0, 3), (4, 6), (7, 10)]
    assert times[0].start_time == pytest.approx(offset + 4 * frame - lead)  # after the leading pad
    assert times[0].end_time == pytest.approx(offset + (4 + 3 * 2) * frame - lead)
    assert times[1].start_time == pytest.approx(offset + (4 + 4 * 2) * frame - lead)
    assert times[1].end_time == pytest.approx(offset + (4 + 15 * 2) * frame - lead)
    assert times[2].end_time == pytest.approx(offset + (4 + 18 * 2) * frame - lead)
    assert times[-1].end_time + 6 * frame + lead == pytest.approx(offset + durations.sum() * FRAME_SECONDS)
    late = word_times(WORDS, durations, offset, not_before=8 * scale)  # the chunk's audio starts later
    assert late[0].start_time == pytest.approx(offset + 8 * frame) and late[1:] == times[1:]


def test_unspoken_and_truncated_words_are_left_out() -> None:
    words = [Word("a", 0, 1, 0, 1), Word("—", 2, 3, 1, 1), Word("b", 4, 5, 2, 3), Word("c", 6, 7, 4, 6)]
    times = word_times(words, np.ones(5, dtype=np.int64))  # pad + 3 tokens + pad: the model got 3
    assert [t.word for t in times] == ["a", "b"]


def tone(frames: int, loud: bool = True) -> np.ndarray:
    return np.full(frames * 600, 0.3 if loud else 0.0, dtype=np.float32)


def test_stream_clock_counts_every_sample_of_earlier_chunks() -> None:
    clock = StreamClock()
    first = clock.advance([Word("one", 0, 3, 0, 2)], np.array([2, 4, 4, 2]), np.concatenate([tone(12), tone(4, False)]))
    silent = clock.advance([], None, tone(40, False))  # e.g. a [pause]
    second = clock.advance([Word("two", 4, 7, 0, 2)], np.array([2, 4, 4, 2]), tone(12))
    assert first[0].start_time == 0.0 and first[0].end_time == 0.175 and silent == []  # heard 3 frames early
    assert second[0].start_time == pytest.approx(0.3 + 0.1 + 1.0)
    cut = clock.advance([Word("three", 8, 13, 0, 2)], np.array([6, 4, 4, 2]), tone(12)[1200:], trimmed_lead=1200)
    assert cut[0].start_time == pytest.approx(1.7 + (6 - 3 - 2) * FRAME_SECONDS)  # 2 frames of its lead were cut


def test_a_word_ends_where_its_sound_fades_not_where_its_last_frames_do() -> None:
    """The model gives a phrase's last phoneme a long duration that is mostly the fade into silence."""
    durations = np.array([2, 3, 3, 12, 1])  # pad, "f", "a", a long last phoneme, pad
    audible = np.array([False] * 2 + [True] * 10 + [False] * 9)  # sound for 4 of its 12 frames
    plain, = word_times([Word("far", 0, 3, 0, 3)], durations)
    heard, = word_times([Word("far", 0, 3, 0, 3)], durations, audible=audible)
    assert plain.end_time == pytest.approx((20 - SOUND_LEAD_FRAMES) * FRAME_SECONDS)
    assert heard.end_time == pytest.approx(12 * FRAME_SECONDS)
    assert heard.start_time == plain.start_time
    quiet, = word_times([Word("hm", 0, 2, 0, 1)], np.array([2, 3, 1]), audible=np.zeros(6, dtype=bool))
    assert quiet.end_time - quiet.start_time == pytest.approx(FRAME_SECONDS)  # at least a frame


def _timed(text: str, seconds_per_word: float = 0.3, pause_after: dict[int, float] | None = None) -> list[WordTime]:
    result, t = [], 0.0
    for i, match in enumerate(re.finditer(r"[\w'$%]+", text)):
        result.append(WordTime(match.group(), round(t, 3), round(t + seconds_per_word - 0.05, 3),
                               match.start(), match.end()))
        t += seconds_per_word + (pause_after or {}).get(i, 0.0)
    return result


LONG = ("The old lighthouse keeper climbed the narrow stairs every evening at dusk to light the lamp for "
        "the passing ships, and he polished the great glass lens. Nobody in the village could remember "
        "a single night when his light had failed them.")


def test_cues_have_two_lines_of_42_characters_and_sensible_durations() -> None:
    words = _timed(LONG)
    items = cues(words, LONG)
    assert len(items) >= 3
    for cue in items:
        assert 1 <= len(cue.lines) <= 2 and all(len(line) <= LINE_CHARS for line in cue.lines), cue
        assert MIN_SECONDS - 1e-9 <= cue.end - cue.start <= MAX_SECONDS + 0.3, cue
    assert all(a.end <= b.start for a, b in zip(items, items[1:]))
    # every word once, in order, with its punctuation; a sentence never runs on into the next cue
    assert " ".join(" ".join(c.lines) for c in items) == " ".join(LONG.split())
    assert any(" ".join(c.lines).endswith("lens.") for c in items)


def test_a_long_pause_starts_a_new_cue_and_short_cues_are_stretched() -> None:
    text = "Wait. Then go on"
    words = _timed(text, 0.2, pause_after={1: 2.0})
    items = cues(words, text)
    assert [" ".join(c.lines) for c in items] == ["Wait.", "Then", "go on"]
    assert items[0].end - items[0].start == pytest.approx(MIN_SECONDS) or items[0].end <= items[1].start


def test_srt_and_vtt_syntax() -> None:
    text = "Hello there, world."
    words = [WordTime("Hello", 0.1, 0.4, 0, 5), WordTime("there", 0.45, 0.8, 6, 11),
             WordTime("world", 3661.5, 3662.25, 13, 18)]
    srt = render("srt", words, text)
    assert srt.startswith("1\n00:00:00,100 --> 00:00:01,100\nHello there,\n\n2\n01:01:01,500 --> 01:01:02,500\nworld.\n")
    vtt = render("vtt", words, text)
    assert vtt.startswith("WEBVTT\n\n00:00:00.100 --> 00:00:01.100\nHello there,\n\n01:01:01.500")
    assert to_srt([]) == "" and to_vtt([]) == "WEBVTT\n\n"
    assert '"word": "world"' in render("json", words, text, audio_seconds=3663.0)
