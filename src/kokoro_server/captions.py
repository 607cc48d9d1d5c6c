"""Caption files from word timestamps: SubRip (``.srt``), WebVTT (``.vtt``) and JSON.

Words are grouped into cues the way subtitle editors expect: at most two lines of at most 42
characters, at most 7 seconds, a new cue after each sentence and at each long pause, and each cue
shown for at least about a second (stretched into the silence after it, never over the next cue).
A cue's text is the input as written, from its first word to its last (with the punctuation that
clings to them), whitespace collapsed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from kokoro_server.timestamps import WordTime

CaptionFormat = Literal["srt", "vtt", "json"]
MEDIA_TYPES: dict[str, str] = {"srt": "application/x-subrip; charset=utf-8", "vtt": "text/vtt; charset=utf-8",
                               "json": "application/json"}

LINE_CHARS = 42
MAX_LINES = 2
MAX_SECONDS = 7.0
MIN_SECONDS = 1.0
PAUSE_SECONDS = 0.8  # a silence this long between two words starts a new cue
GAP_SECONDS = 0.04  # the least time between a stretched cue and the next one
SENTENCE_END = re.compile(r"[.!?…。！？]")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]


def _clinging(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen ``[start, end)`` over the punctuation attached to it ("(Hello," from "Hello")."""
    while start > 0 and not (text[start - 1].isspace() or text[start - 1].isalnum()):
        start -= 1
    while end < len(text) and not (text[end].isspace() or text[end].isalnum()):
        end += 1
    return start, end


def _lines(text: str) -> tuple[str, ...]:
    """One line, or two split at the word boundary that balances them best (after a comma if that
    is nearly as good)."""
    if len(text) <= LINE_CHARS:
        return (text,)
    words = text.split(" ")
    best: tuple[float, int] | None = None
    for cut in range(1, len(words)):
        first, second = " ".join(words[:cut]), " ".join(words[cut:])
        overflow = max(len(first) - LINE_CHARS, 0) + max(len(second) - LINE_CHARS, 0)
        score = overflow * 100 + abs(len(first) - len(second)) - (8 if first[-1] in ",;:" else 0)
        if best is None or score < best[0]:
            best = (score, cut)
    if best is None:  # one long word
        return (text,)
    cut = best[1]
    return " ".join(words[:cut]), " ".join(words[cut:])


def _fits(text: str) -> bool:
    return len(text) <= LINE_CHARS or (len(text) <= LINE_CHARS * MAX_LINES
                                       and max(len(line) for line in _lines(text)) <= LINE_CHARS)


def cues(words: Sequence[WordTime], text: str) -> list[Cue]:
    """The cues for ``words`` (in order) of the input ``text``."""
    groups: list[list[tuple[WordTime, int, int]]] = []  # (word, start, end of its clinging span)
    for word in words:
        start, end = _clinging(text, word.char_start, word.char_end)
        if groups:
            group = groups[-1]
            first, last = group[0], group[-1]
            if not (SENTENCE_END.search(text[last[1]:last[2]])
                    or word.start_time - last[0].end_time >= PAUSE_SECONDS
                    or word.end_time - first[0].start_time > MAX_SECONDS
                    or not _fits(_join(text, first[1], end))):
                group.append((word, start, end))
                continue
        groups.append([(word, start, end)])
    result: list[Cue] = []
    for i, group in enumerate(groups):
        begin, finish = group[0][0].start_time, group[-1][0].end_time
        if finish - begin < MIN_SECONDS:
            following = groups[i + 1][0][0].start_time - GAP_SECONDS if i + 1 < len(groups) else None
            finish = begin + MIN_SECONDS if following is None else max(finish, min(begin + MIN_SECONDS, following))
        result.append(Cue(begin, finish, _lines(_join(text, group[0][1], group[-1][2]))))
    return result


def _join(text: str, start: int, end: int) -> str:
    return " ".join(text[start:end].split())


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, int(round(seconds * 1000)))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(items: Sequence[Cue]) -> str:
    blocks = [f"{n}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n" + "\n".join(c.lines)
              for n, c in enumerate(items, 1)]
    return "\n\n".join(blocks) + "\n" if blocks else ""


def to_vtt(items: Sequence[Cue]) -> str:
    blocks = [f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n" + "\n".join(c.lines) for c in items]
    return "WEBVTT\n\n" + "\n\n".join(blocks) + ("\n" if blocks else "")


def to_json(words: Sequence[WordTime], audio_seconds: float | None = None) -> str:
    payload: dict[str, object] = {"words": [w.to_json() for w in words]}
    if audio_seconds is not None:
        payload["audio_seconds"] = round(audio_seconds, 3)
    return json.dumps(payload, ensure_ascii=False, indent=1) + "\n"


def format_for_path(path: str, param: str = "captions") -> str:
    """The caption format a file name asks for by its extension (``talk.vtt`` -> ``vtt``)."""
    from pathlib import Path

    from kokoro_server.errors import InvalidInputError

    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in MEDIA_TYPES:
        raise InvalidInputError(f"--{param} {path}: the format follows the extension, one of "
                                f"{', '.join('.' + f for f in MEDIA_TYPES)}", param=param)
    return suffix


def render(fmt: str, words: Sequence[WordTime], text: str, audio_seconds: float | None = None) -> str:
    """The caption file in ``fmt`` (srt, vtt or json)."""
    if fmt == "json":
        return to_json(words, audio_seconds)
    items = cues(words, text)
    return to_srt(items) if fmt == "srt" else to_vtt(items)
