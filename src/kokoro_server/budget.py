"""A request's audio, estimated before any of it is made, and the budget it must fit.

The estimate is read off the parsed input without normalizing or phonemizing it (both run lazily,
chunk by chunk, while the audio streams): markup pauses and SSML breaks count exactly, given phonemes
count per symbol, and text counts per character by kind, at rates measured on the real model
(``bench/estimate.py``: the figures and its accuracy are in bench/README.md). Each kind's rate is set
near the top of what was measured, so the estimate leans high: a digit counts as the longest reading
of one ("seven" read digit by digit), a symbol read aloud as a short word ("percent"). Speech is
divided by the request's speed and each markup speed change; pauses are not (they are exact).

:func:`check_budget` refuses a request whose audio would pass ``KOKORO_MAX_AUDIO_SECONDS`` or whose
pauses add up past ``KOKORO_MAX_PAUSE_SECONDS`` (413, with the figures in the message). Text that
arrives in parts (a voice agent's stream) is counted part by part in a :class:`StreamBudget`, and the
stream is refused at the part that passes the same limits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kokoro_server.errors import AudioTooLongError
from kokoro_server.text.chunk import PAUSE_SECONDS
from kokoro_server.text.document import Break, Pause, Phonemes, Segment, SpeedChange, Stressed, Text

# Seconds of speech at speed 1 (bench/estimate.py measured these on af_heart and the other voices'
# languages; see bench/README.md, "Request budget").
SECONDS_PER_LETTER = 0.068  # a letter of a word in a spaced alphabet (English, Spanish, ...)
SECONDS_PER_SPELLED_LETTER = 0.25  # a letter standing alone ("K O K O R O", say-as characters) is spelled
SECONDS_PER_DIGIT = 0.40  # a digit: "7" * n is read "seven seven ..."; years and amounts read shorter
SECONDS_PER_SPOKEN_SYMBOL = 0.45  # % & @ # + = $ € £ ¥ ° ... read as a word
SECONDS_PER_WIDE_CHARACTER = 0.24  # a CJK ideograph, kana or hangul syllable
SECONDS_PER_INDIC_CHARACTER = 0.095  # a Devanagari letter or sign (vowel signs count: they are syllables)
SECONDS_PER_CLAUSE_MARK = 0.12  # the pause the model makes at a comma, semicolon or colon
SECONDS_PER_PHONEME = 0.068  # a given phoneme symbol ([x](/.../), <phoneme>, input_format phonemes)
SPOKEN_SYMBOLS = frozenset("%&@#+=$€£¥°§©®™×÷<>~^*|\\/")
CLAUSE_MARKS = frozenset(",;:、，；：")

_SENTENCE_END = re.compile(r"[.!?…。！？।](?=\s|$)|\n")
_LONE_LETTER = re.compile(r"(?<![^\W\d_])[^\W\d_](?![^\W\d_])")  # a letter with no letter on either side


@dataclass(frozen=True)
class AudioEstimate:
    """What a request will last, decided before any audio is made."""

    speech_seconds: float  # estimated from the input's characters and phonemes
    pause_seconds: float  # markup pauses and SSML breaks: exact
    boundary_seconds: float  # the short silences after sentences and paragraphs

    @property
    def seconds(self) -> float:
        return self.speech_seconds + self.pause_seconds + self.boundary_seconds

    def __add__(self, other: AudioEstimate) -> AudioEstimate:
        return AudioEstimate(self.speech_seconds + other.speech_seconds, self.pause_seconds + other.pause_seconds,
                             self.boundary_seconds + other.boundary_seconds)


def _text_seconds(text: str) -> tuple[float, int]:
    """Speech seconds of ``text`` at speed 1 and how many sentence ends it has."""
    letters = digits = symbols = wide = indic = clauses = 0
    for ch in text:
        if ch.isdigit():
            digits += 1
        elif "\u0900" <= ch <= "\u097f":
            indic += ch != "।"
        elif ch in SPOKEN_SYMBOLS:
            symbols += 1
        elif ch in CLAUSE_MARKS:
            clauses += 1
        elif ch.isalpha():
            if unicodedata.east_asian_width(ch) in ("W", "F"):
                wide += 1
            else:
                letters += 1
    spelled = len(_LONE_LETTER.findall(text)) if letters else 0
    seconds = ((letters - spelled) * SECONDS_PER_LETTER + spelled * SECONDS_PER_SPELLED_LETTER
               + digits * SECONDS_PER_DIGIT + symbols * SECONDS_PER_SPOKEN_SYMBOL
               + wide * SECONDS_PER_WIDE_CHARACTER + indic * SECONDS_PER_INDIC_CHARACTER
               + clauses * SECONDS_PER_CLAUSE_MARK)
    return seconds, len(_SENTENCE_END.findall(text))


def estimate(segments: Iterable[Segment], speed: float) -> AudioEstimate:
    """The audio of a document's segments spoken at ``speed`` (markup speed changes included)."""
    speech = pauses = boundaries = 0.0
    rate = 1.0
    for segment in segments:
        if isinstance(segment, Text):
            seconds, ends = _text_seconds(segment.text)
            speech += seconds / (speed * rate)
            boundaries += ends * PAUSE_SECONDS["sentence"] / (speed * rate)
        elif isinstance(segment, Phonemes):
            symbols = sum(1 for ch in segment.phonemes if not ch.isspace())
            speech += symbols * SECONDS_PER_PHONEME / (speed * rate)
        elif isinstance(segment, Stressed):
            speech += _text_seconds(segment.text)[0] / (speed * rate)
        elif isinstance(segment, Pause):
            pauses += segment.seconds
        elif isinstance(segment, Break):
            boundaries += PAUSE_SECONDS[segment.kind] / (speed * rate)
        elif isinstance(segment, SpeedChange):
            rate = segment.rate
    return AudioEstimate(speech, pauses, boundaries)


def check_budget(found: AudioEstimate, *, max_audio_s: float, max_pause_s: float, subject: str = "the input",
                 advice: str = "split the text into several requests", param: str = "input") -> None:
    """Refuse a request over its budget, with the figures (0 turns a limit off)."""
    if max_pause_s and found.pause_seconds > max_pause_s:
        raise AudioTooLongError(f"{subject}'s pauses add up to {found.pause_seconds:.0f} s; the limit is "
                                f"{max_pause_s:g} s (KOKORO_MAX_PAUSE_SECONDS)", param=param)
    if max_audio_s and found.seconds > max_audio_s:
        raise AudioTooLongError(
            f"{subject} would make about {found.seconds:.0f} s of audio ({found.speech_seconds:.0f} s of "
            f"speech, {found.pause_seconds + found.boundary_seconds:.0f} s of pauses); the limit is "
            f"{max_audio_s:g} s (KOKORO_MAX_AUDIO_SECONDS): {advice}", param=param)


@dataclass
class StreamBudget:
    """The budget of text that arrives in parts (a WebSocket context, a Wyoming stream): each part's
    audio is estimated as it is cut off for synthesis and added to what the stream has made so far;
    the part that takes the total past a limit is refused (:class:`AudioTooLongError`), so one
    stream makes no more audio than one request may. A markup speed change carries on to later parts.

        >>> budget = StreamBudget(max_audio_s=3, max_pause_s=0, speed=1.0)
        >>> budget.add([Pause(2.0, 0, 0)])
        >>> budget.add([Pause(2.0, 0, 0)])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        kokoro_server.errors.AudioTooLongError: the text would make about 4 s of audio (0 s of speech, 4 s ...
    """

    max_audio_s: float
    max_pause_s: float
    speed: float
    param: str = "text"
    found: AudioEstimate = field(default_factory=lambda: AudioEstimate(0.0, 0.0, 0.0))
    rate: float = 1.0  # the markup speed in effect after the parts so far

    def add(self, segments: Sequence[Segment]) -> None:
        carried = (SpeedChange(self.rate, 0, 0),) if self.rate != 1.0 else ()
        total = self.found + estimate((*carried, *segments), self.speed)
        check_budget(total, max_audio_s=self.max_audio_s, max_pause_s=self.max_pause_s, subject="the text",
                     advice="split it into several requests (or streams)", param=self.param)
        self.found = total
        for segment in segments:
            if isinstance(segment, SpeedChange):
                self.rate = segment.rate
