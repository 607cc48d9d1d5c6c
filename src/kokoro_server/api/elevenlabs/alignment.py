"""Character alignments (ElevenLabs' ``alignment`` and ``normalizedAlignment``) from our word timings.

Every character the client sent is in exactly one answer's ``alignment``, in order, so joining the
``chars`` of all answers gives the text back. A word's characters share the word's time evenly;
characters between words (spaces, punctuation, markup) fill the gap between them, and those after
a chunk's last word run to the end of that chunk's audio, pause included: a client that advances its
clock by each answer's last character end stays on the audio's clock. The normalized alignment does
the same over the words as read (``$5`` -> ``five dollars``), joined by single spaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kokoro_server.serving.live_speech import Spoken, SpokenChunk
from kokoro_server.timestamps import WordTime

_TRAILING = set(" \t\r\n.,;:!?…)]}\"'”’»—–-。，、！？；：")  # a chunk's last word keeps what closes it


@dataclass(frozen=True)
class Alignment:
    chars: list[str]
    starts: list[float]  # seconds from the start of the answer's audio (or the request's, for REST)
    ends: list[float]

    def shifted(self, seconds: float) -> Alignment:
        return Alignment(self.chars, [s + seconds for s in self.starts], [e + seconds for e in self.ends])


@dataclass(frozen=True)
class _Span:
    start: int  # characters [start, end) of the aligned text
    end: int
    begin: float  # seconds
    finish: float


def spread(text: str, spans: Sequence[_Span], duration: float) -> Alignment:
    """Times for every character of ``text`` given timed spans of it (in order, not overlapping)."""
    starts: list[float] = []
    ends: list[float] = []

    def fill(count: int, begin: float, finish: float) -> None:
        finish = max(finish, begin)
        for k in range(count):
            starts.append(begin + (finish - begin) * k / count)
            ends.append(begin + (finish - begin) * (k + 1) / count)

    position, clock = 0, 0.0
    for span in spans:
        if span.end <= position:
            continue
        start = max(span.start, position)
        fill(start - position, clock, span.begin)  # the gap before the span
        begin = max(span.begin, clock)
        fill(span.end - start, begin, span.finish)
        position, clock = span.end, max(span.finish, begin)
    fill(len(text) - position, clock, max(duration, clock))
    return Alignment(list(text), [round(s, 4) for s in starts], [round(e, 4) for e in ends])


class Aligner:
    """Alignments for one stream's chunks, in order (one per chunk, covering the text so far)."""

    def __init__(self) -> None:
        self._upto = 0  # text before this offset has been aligned
        self._spoken_upto = 0  # readings of words starting before this offset have been aligned

    def chunk(self, text: str, chunk: SpokenChunk) -> tuple[Alignment, Alignment] | None:
        """The alignment and normalized alignment of ``chunk`` (None: its words are not timed)."""
        if chunk.words is None:
            return None
        words = sorted(chunk.words, key=lambda w: w.char_start)
        end = max([self._upto, *(w.char_end for w in words)])
        limit = max(end, min(chunk.part_end, len(text)))
        while end < limit and text[end] in _TRAILING:
            end += 1
        start, self._upto = self._upto, end
        spans = [_Span(w.char_start - start, w.char_end - start, w.start_time, w.end_time)
                 for w in words if w.char_end > start]
        original = spread(text[start:end], spans, chunk.seconds)
        spoken = [s for s in chunk.spoken if self._spoken_upto <= s.start < end]
        if spoken:
            self._spoken_upto = max(s.start for s in spoken) + 1
        return original, self._read(spoken, words, chunk.seconds)

    def rest(self, text: str) -> Alignment | None:
        """What is left of the text once everything is spoken (no audio of its own), or None."""
        if self._upto >= len(text):
            return None
        start, self._upto = self._upto, len(text)
        return spread(text[start:], [], 0.0)

    @staticmethod
    def _read(spoken: list[Spoken], words: list[WordTime], duration: float) -> Alignment:
        """The normalized alignment: each word as read takes the time of the input word it reads
        (shared by length when one input word is read as several)."""
        groups: dict[int, list[int]] = {}  # input word -> the readings of it
        owner: list[int | None] = []
        for k, reading in enumerate(spoken):
            match = next((i for i, w in enumerate(words) if w.char_start < reading.end and w.char_end > reading.start),
                         None)
            owner.append(match)
            if match is not None:
                groups.setdefault(match, []).append(k)
        text_parts: list[str] = []
        spans: list[_Span] = []
        position = 0
        timed: dict[int, tuple[float, float]] = {}
        for index, members in groups.items():
            word = words[index]
            total = sum(len(spoken[k].text) for k in members) or 1
            clock = word.start_time
            for k in members:
                share = (word.end_time - word.start_time) * len(spoken[k].text) / total
                timed[k] = (clock, clock + share)
                clock += share
        for k, reading in enumerate(spoken):
            if k in timed:
                spans.append(_Span(position, position + len(reading.text), *timed[k]))
            text_parts.append(reading.text)
            position += len(reading.text) + 1
        return spread(" ".join(text_parts) + (" " if text_parts else ""), spans, duration)
