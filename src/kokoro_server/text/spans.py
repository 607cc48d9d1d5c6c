"""Rewriting text while remembering where every output character came from.

A :class:`Rewriter` applies substitutions pass by pass (as ``re.sub`` would) and keeps an alignment
between the current text and the original input: a sorted list of segments, each an output range
and the input range it came from. Copied text maps character for character; a replacement maps as a
whole to the input range it replaced (so "five dollars" maps to "$5"). Every pass is one sweep over
the matches and the segments, so memory and time stay linear in the text.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

Edit = tuple[int, int, str]
"""Replace ``text[start:end]`` of the current text with a string."""

Replacement = str | Sequence[Edit]
"""What a rule returns for a match: its new text, or edits inside the match (finer spans)."""


@dataclass(frozen=True, slots=True)
class _Segment:
    out_start: int
    out_end: int
    src_start: int
    src_end: int
    exact: bool  # copied text: character i of the output is character i of the source range


class Normalized:
    """A normalized text and the way back from any of its ranges to the input range it came from."""

    __slots__ = ("text", "_segments", "_out_starts", "_out_ends", "_source_length")

    def __init__(self, text: str, segments: list[_Segment], source_length: int) -> None:
        self.text = text
        self._segments = segments
        self._out_starts = [s.out_start for s in segments]
        self._out_ends = [s.out_end for s in segments]
        self._source_length = source_length

    def __repr__(self) -> str:
        return f"Normalized({self.text!r})"

    def source_span(self, out_start: int, out_end: int) -> tuple[int, int]:
        """The input range ``[start, end)`` that output ``text[out_start:out_end]`` was made from.

        A range inside copied text maps character for character; touching a replacement maps to all
        of what it replaced. An empty range (or one over inserted spaces only) maps to an empty range
        at the nearest input position.
        """
        if not 0 <= out_start <= out_end <= len(self.text):
            raise ValueError(f"range {out_start}:{out_end} is outside the text (length {len(self.text)})")
        first = bisect_right(self._out_ends, out_start)  # first segment ending after out_start
        last = bisect_left(self._out_starts, out_end)  # segments before this start before out_end
        start = end = -1
        for segment in self._segments[first:last]:
            low, high = _source_of(segment, out_start, out_end)
            start = low if start < 0 else min(start, low)
            end = max(end, high)
        if start >= 0:
            return start, end
        return (position := self._nearest_source(out_start)), position

    def _nearest_source(self, out_position: int) -> int:
        index = bisect_right(self._out_starts, out_position) - 1
        if index < 0:
            return 0 if not self._segments else self._segments[0].src_start
        segment = self._segments[index]
        if segment.exact and out_position <= segment.out_end:
            return segment.src_start + (out_position - segment.out_start)
        return segment.src_end if out_position >= segment.out_end else segment.src_start


def _source_of(segment: _Segment, out_start: int, out_end: int) -> tuple[int, int]:
    """The source range of the part of ``segment`` that lies in ``[out_start, out_end)``."""
    if not segment.exact:
        return segment.src_start, segment.src_end
    low = max(out_start, segment.out_start) - segment.out_start + segment.src_start
    high = min(out_end, segment.out_end) - segment.out_start + segment.src_start
    return low, high


class Rewriter:
    """Text under rewriting, aligned with the original: apply rules with :meth:`sub`, then
    :meth:`result`."""

    def __init__(self, text: str) -> None:
        self.source_length = len(text)
        self.text = text
        self._segments = [_Segment(0, len(text), 0, len(text), True)] if text else []

    def sub(self, pattern: re.Pattern[str], rule: Callable[[re.Match[str]], Replacement] | str) -> None:
        """Replace every match of ``pattern`` like ``pattern.sub`` (a rule returning the match's own
        text changes nothing); a rule may instead return edits inside its match for finer spans."""
        edits: list[Edit] = []
        for match in pattern.finditer(self.text):
            replacement = rule if isinstance(rule, str) else rule(match)
            if isinstance(replacement, str):
                if replacement != match.group(0):
                    edits.append((match.start(), match.end(), replacement))
            else:
                edits.extend(edit for edit in replacement if self.text[edit[0]:edit[1]] != edit[2])
        self.apply(edits)

    def apply(self, edits: Iterable[Edit]) -> None:
        """Apply non-overlapping edits given in text order."""
        text, segments = self.text, self._segments
        pieces: list[str] = []
        new_segments: list[_Segment] = []
        position = 0  # in the current text
        out = 0  # in the new text
        index = 0  # first current segment that may still overlap ``position``
        for start, end, replacement in edits:
            if start < position or end < start:
                raise ValueError(f"edits overlap or are out of order at {start}:{end}")
            # copy text[position:start] with its alignment
            while index < len(segments) and segments[index].out_end <= position:
                index += 1
            i = index
            while i < len(segments) and segments[i].out_start < start:
                segment = segments[i]
                low, high = max(segment.out_start, position), min(segment.out_end, start)
                if high > low:
                    src_low, src_high = _source_of(segment, low, high)
                    new_segments.append(_Segment(out + low - position, out + high - position,
                                                 src_low, src_high, segment.exact))
                i += 1
            pieces.append(text[position:start])
            out += start - position
            # the replaced range maps to all of its source
            src = self._source_range(start, end, index)
            if replacement:
                new_segments.append(_Segment(out, out + len(replacement), src[0], src[1], False))
                pieces.append(replacement)
                out += len(replacement)
            position = end
        if not pieces:
            return
        while index < len(segments) and segments[index].out_end <= position:
            index += 1
        for segment in segments[index:]:
            low = max(segment.out_start, position)
            src_low, src_high = _source_of(segment, low, segment.out_end)
            new_segments.append(_Segment(out + low - position, out + segment.out_end - position,
                                         src_low, src_high, segment.exact))
        pieces.append(text[position:])
        self.text = "".join(pieces)
        self._segments = new_segments

    def _source_range(self, start: int, end: int, index: int) -> tuple[int, int]:
        """Source range of current ``[start, end)`` (segments from ``index`` on); empty -> a point."""
        segments = self._segments
        low = high = -1
        i = index
        while i < len(segments) and segments[i].out_start < end:
            segment = segments[i]
            if segment.out_end > start:
                a, b = _source_of(segment, start, end)
                low = a if low < 0 else min(low, a)
                high = max(high, b)
            i += 1
        if low >= 0:
            return low, high
        # an insertion (or a range over inserted text only): the source position before it
        while index < len(segments) and segments[index].out_end < start:
            index += 1
        if index < len(segments):
            segment = segments[index]
            if segment.out_start >= start:
                return segment.src_start, segment.src_start
            point = segment.src_start + (start - segment.out_start) if segment.exact else segment.src_end
            return point, point
        point = segments[-1].src_end if segments else 0
        return point, point

    def result(self) -> Normalized:
        return Normalized(self.text, self._segments, self.source_length)


def identity(text: str) -> Normalized:
    """``text`` unchanged, every character mapping to itself."""
    return Rewriter(text).result()
