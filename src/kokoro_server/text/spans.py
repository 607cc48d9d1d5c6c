"""Normalized text that remembers where each of its words came from in the text it was made from.

``normalize(text, options)`` gives a :class:`Normalized` whose ``source_span(start, end)`` maps a span
of the normalized text back to the span of the original it was read from (``"$5"`` -> ``"five
dollars"``: both words map to ``"$5"``). This is the one place the text layer maps spans across
normalization; the normalizer itself rewrites text without tracking spans, so the mapping aligns the
two texts word by word: words that read the same anchor the alignment, and what lies between two
anchors maps to what lies between them in the original. Linear in the text (bounded look-ahead).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from kokoro_server.text.normalize import DEFAULT_OPTIONS, NormalizationOptions, normalize_text

_WORD = re.compile(r"\S+")
_KEY_STRIP = re.compile(r"[\W_]+")
_EDGE_PUNCTUATION = ".,;:!?\"'()[]{}«»“”‘’…—–"
LOOKAHEAD = 8  # words searched ahead on each side for the next anchor
LONG_WORD = 30  # a source word longer than this, read as several words, is shared out among them


def _key(word: str) -> str:
    return _KEY_STRIP.sub("", word).lower()


@dataclass(frozen=True)
class Normalized:
    text: str
    source: str
    # per word of ``text``: its (start, end) in ``text`` and the (start, end) in ``source`` it reads
    _out: list[tuple[int, int]] = field(default_factory=list, repr=False)
    _src: list[tuple[int, int]] = field(default_factory=list, repr=False)
    _exact: list[bool] = field(default_factory=list, repr=False)
    _starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._starts.extend(s for s, _ in self._out)

    def source_span(self, out_start: int, out_end: int) -> tuple[int, int]:
        """The span of ``source`` that ``text[out_start:out_end]`` was read from (end exclusive)."""
        if not self._out:
            return 0, len(self.source)
        starts = self._starts
        first = max(bisect.bisect_right(starts, out_start) - 1, 0)
        last = max(bisect.bisect_left(starts, max(out_end, out_start + 1)) - 1, first)
        if first == last and self._exact[first]:  # the word reads as written: map character by character
            (o_start, o_end), (s_start, _) = self._out[first], self._src[first]
            lo = min(max(out_start, o_start), o_end) - o_start
            hi = min(max(out_end, o_start), o_end) - o_start
            if hi > lo:
                return s_start + lo, s_start + hi
        start, end = self._src[first][0], self._src[last][1]
        return _trim(self.source, start, end)


def _trim(source: str, start: int, end: int) -> tuple[int, int]:
    """Drop punctuation around a span (a word's span, not the comma after it)."""
    lo, hi = start, end
    while lo < hi and source[lo] in _EDGE_PUNCTUATION:
        lo += 1
    while hi > lo and source[hi - 1] in _EDGE_PUNCTUATION:
        hi -= 1
    return (lo, hi) if hi > lo else (start, end)


def _abbreviates(short: str, long: str) -> bool:
    """"dr" abbreviates "doctor": a shorter word of letters, its first letter first, in order."""
    if not short.isalpha() or len(short) >= len(long) or short[:1] != long[:1]:
        return False
    rest = iter(long)
    return all(ch in rest for ch in short)


def _share(src_keys: list[str], out_keys: list[str], i: int, ai: int, j: int, aj: int) -> list[int]:
    """Which source word (index, -1: none) each output word between two anchors reads: abbreviations
    pair up from either end; the rest share the remaining source words out in order."""
    result = [-1] * (aj - j)
    while ai - i > 1 and aj - j > 1 and _abbreviates(src_keys[ai - 1], out_keys[aj - 1]):
        ai, aj = ai - 1, aj - 1
        result[aj - j] = ai
    offset = 0
    while ai - i > 1 and aj - j - offset > 1 and _abbreviates(src_keys[i], out_keys[j + offset]):
        result[offset] = i
        i, offset = i + 1, offset + 1
    for k in range(offset, aj - j):
        if result[k] < 0 and ai > i:
            result[k] = i + (k - offset) * (ai - i) // (aj - j - offset)
    return result


def align(source: str, text: str) -> Normalized:
    """Map every word of ``text`` (a rewrite of ``source``) to the span of ``source`` it came from."""
    src = [(m.start(), m.end()) for m in _WORD.finditer(source)]
    out = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    src_keys = [_key(source[a:b]) for a, b in src]
    out_keys = [_key(text[a:b]) for a, b in out]
    mapped: list[tuple[int, int]] = []
    exact: list[bool] = []
    i = j = 0
    while j < len(out):
        if i >= len(src):  # words added at the end read the last word of the source
            last = src[-1] if src else (0, len(source))
            mapped.append(last)
            exact.append(False)
            j += 1
            continue
        if out_keys[j] == src_keys[i]:
            mapped.append(src[i])
            exact.append(source[src[i][0]:src[i][1]] == text[out[j][0]:out[j][1]])
            i += 1
            j += 1
            continue
        anchor = None  # the nearest later pair of words that read the same
        for total in range(1, 2 * LOOKAHEAD + 1):
            for di in range(max(0, total - LOOKAHEAD), min(total, LOOKAHEAD) + 1):
                dj = total - di
                if i + di < len(src) and j + dj < len(out) and src_keys[i + di] and \
                        src_keys[i + di] == out_keys[j + dj]:
                    anchor = (i + di, j + dj)
                    break
            if anchor:
                break
        if anchor is None:
            anchor = (min(i + 1, len(src)), j + 1) if j + 1 < len(out) else (len(src), j + 1)
        ai, aj = anchor
        gap = [g if g >= 0 else max(i - 1, 0) for g in _share(src_keys, out_keys, i, ai, j, aj)]
        k = 0
        while k < len(gap):  # a run of words reading one source word
            run = 1
            while k + run < len(gap) and gap[k + run] == gap[k]:
                run += 1
            start, end = src[gap[k]]
            if run > 1 and end - start > LONG_WORD:  # "7777…" read digit by digit: each its share
                length = end - start
                mapped.extend((start + m * length // run, start + (m + 1) * length // run) for m in range(run))
            else:
                mapped.extend([(start, end)] * run)
            exact.extend([False] * run)
            k += run
        i, j = ai, aj
    return Normalized(text, source, out, mapped, exact)


def normalize(text: str, options: NormalizationOptions = DEFAULT_OPTIONS) -> Normalized:
    return align(text, normalize_text(text, options))
