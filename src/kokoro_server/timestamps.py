"""Word timestamps: the frames the model predicted per phoneme token, summed up per word of the input.

A chunk's audio is the model's output for ``[pad, *tokens, pad]`` followed by the pause after the
chunk; ``durations[i]`` is the number of 600-sample frames (25 ms at 24 kHz) the model gave input
``i``, so ``sum(durations) * 600`` is the length of the speech (the backends check it) and speed is
already in them. A word whose phoneme tokens are ``tokens[a:b]`` has the frames from the end of
token ``a - 1`` to the end of token ``b - 1``; it is heard ``SOUND_LEAD_FRAMES`` earlier (the
decoder's convolutions sound a phoneme before its frames begin: after a silence the sound starts a
median 60-80 ms before the first token's frames, measured on 20 utterances of two voices, and about
80-110 ms after pauses inside an utterance), and its end is drawn back over frames that are already
silent: the model gives the last phoneme before a pause a long duration (often 300 ms) of which the
sound fills only the start, the rest being the fade into the pause. Times are counted from where the chunk starts in the stream; everything the stream adds between chunks (the pauses after sentences and paragraphs,
markup pauses, silent chunks) is in the audio lengths the offsets are summed from. The words are the
input's own ("$5", one word spanning the spoken "five dollars"), with their character offsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from kokoro_server import SAMPLE_RATE
from kokoro_server.engine.base import FRAME_SAMPLES

if TYPE_CHECKING:
    from kokoro_server.service import AudioChunk

FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
DECIMALS = 3  # times are given in milliseconds
SILENT_DB = -40.0  # a frame this far below the chunk's loudest one is silence (the end of a word)
SOUND_LEAD_FRAMES = 3  # a word is heard this many frames (75 ms) before its first token's frames


class WordSpan(Protocol):
    """A word of the input and its phoneme tokens in its chunk (the text layer's ``Word``)."""

    text: str
    start: int  # character offsets in the request's input, end exclusive
    end: int
    token_start: int  # its tokens are chunk.tokens[token_start:token_end] (no pads)
    token_end: int


@dataclass(frozen=True)
class WordTime:
    word: str
    start_time: float  # seconds from the start of the stream
    end_time: float
    char_start: int  # where the word is in the request's input (end exclusive)
    char_end: int

    def to_json(self) -> dict[str, object]:
        return {"word": self.word, "start_time": self.start_time, "end_time": self.end_time,
                "char_start": self.char_start, "char_end": self.char_end}


def audible_frames(audio: np.ndarray) -> np.ndarray:
    """Per 600-sample frame of ``audio``: whether it is louder than ``SILENT_DB`` below the loudest."""
    frames = np.asarray(audio, dtype=np.float32)[: len(audio) // FRAME_SAMPLES * FRAME_SAMPLES]
    level = np.sqrt(np.mean(np.square(frames.reshape(-1, FRAME_SAMPLES), dtype=np.float64), axis=1))
    return level > (level.max() if level.size else 0.0) * 10 ** (SILENT_DB / 20)


def word_times(words: Sequence[WordSpan], durations: np.ndarray, offset_s: float = 0.0,
               audible: np.ndarray | None = None, not_before: int = 0) -> list[WordTime]:
    """The times of ``words`` in a chunk whose model audio starts ``offset_s`` into the stream.

    ``durations`` has one count per model input, pads included (``len(tokens) + 2``). Words without
    tokens (nothing spoken) and words past the tokens the model was given are left out; neighbours
    that share one span of the input (a normalized "$5" read as two words) become one word.
    ``audible`` (:func:`audible_frames` of the chunk's audio): a word ends after its last audible
    frame (it keeps at least one frame). No word starts before frame ``not_before`` (where the
    chunk's audio in the stream begins, after its cut edge silence).
    """
    durations = np.asarray(durations, dtype=np.int64).reshape(-1)
    spoken = durations.size - 2  # tokens the model read
    # frame at which input i starts: ends[i] = sum(durations[:i]); token t is input t + 1
    ends = np.concatenate([[0], np.cumsum(durations)])
    merged: list[list[int]] = []  # [char_start, char_end, token_start, token_end] per word
    texts: list[str] = []
    for word in words:
        first, last = max(word.token_start, 0), min(word.token_end, spoken)
        if last <= first:
            continue
        if merged and (word.start, word.end) == tuple(merged[-1][:2]) and first >= merged[-1][3]:
            merged[-1][3] = last
            continue
        merged.append([word.start, word.end, first, last])
        texts.append(word.text)
    result = []
    for text, (start, end, first, last) in zip(texts, merged):
        begin = max(int(ends[first + 1]) - SOUND_LEAD_FRAMES, not_before)  # frames, in the chunk
        finish = max(int(ends[last + 1]) - SOUND_LEAD_FRAMES, begin + 1)
        if audible is not None:
            heard = np.flatnonzero(audible[begin:finish])
            finish = min(finish, begin + (int(heard[-1]) + 1 if heard.size else 1))
        result.append(WordTime(text, round(offset_s + begin * FRAME_SECONDS, DECIMALS),
                               round(offset_s + finish * FRAME_SECONDS, DECIMALS), start, end))
    return result


class StreamClock:
    """Times the words of each chunk of one stream at that chunk's start (the audio so far)."""

    def __init__(self) -> None:
        self.samples = 0  # audio (speech and pauses) of the chunks timed so far

    def advance(self, words: Sequence[WordSpan], durations: np.ndarray | None, audio: np.ndarray,
                trimmed_lead: int = 0) -> list[WordTime]:
        """The words of the next chunk, whose audio (pause included) is ``audio``; ``trimmed_lead``
        samples of the model's output were cut from its start (the durations count them)."""
        times = []
        if len(words) and durations is not None:
            model_audio = np.concatenate([np.zeros(trimmed_lead, dtype=np.float32), audio]) if trimmed_lead else audio
            times = word_times(words, durations, (self.samples - trimmed_lead) / SAMPLE_RATE,
                               audible_frames(model_audio), not_before=-(-trimmed_lead // FRAME_SAMPLES))
        self.samples += len(audio)
        return times

    def words(self, chunk: AudioChunk) -> tuple[WordTime, ...] | None:
        """The words of the service's next chunk; None if the backend gave no durations for it."""
        if chunk.durations is None and chunk.chunk.words:
            self.samples += len(chunk.audio)
            return None
        return tuple(self.advance(chunk.chunk.words, chunk.durations, chunk.audio, chunk.trimmed_lead))
