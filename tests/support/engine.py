"""Engine inputs prepared from real text and voices, for calling a backend directly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from kokoro_server.service import SpeechRequest, SpeechService


def engine_inputs(service: SpeechService, texts: list[str], voice: str = "af_heart") -> list[tuple[list[int], np.ndarray]]:
    """(tokens, style) per text, as the pipeline would pass them to ``Backend.synthesize``."""
    result = []
    for text in texts:
        prepared = service.prepare(SpeechRequest(text=text, voice=voice))
        tokens = prepared.build.tokenize(service.phonemizer(prepared.build, prepared.lang)(prepared.text))
        result.append((tokens, prepared.pack[len(tokens) - 1]))
    return result


@contextmanager
def counted_synthesis(service: SpeechService, version: str = "v1_0") -> Iterator[list[int]]:
    """Every call the service's loaded backend for ``version`` makes while the block runs, as the
    number of tokens it was given: the real backend, watched (its own method does the work)."""
    backend = service.models.get(version).backend
    real = backend.synthesize
    calls: list[int] = []

    def counting(tokens, style, speed):  # the Backend protocol's signature
        calls.append(len(tokens))
        return real(tokens, style, speed)

    backend.synthesize = counting  # type: ignore[method-assign]  # shadows the method on this instance
    try:
        yield calls
    finally:
        del backend.synthesize


class _Counted:
    """A phonemizer that records the length of every text it is given, then phonemizes it."""

    def __init__(self, inner, calls: list[int]) -> None:
        self._inner, self._calls = inner, calls
        self.spaced = getattr(inner, "spaced", True)

    def __call__(self, text: str) -> str:
        self._calls.append(len(text))
        return self._inner(text)


class _CountedWords(_Counted):
    def words(self, text: str):
        self._calls.append(len(text))
        return self._inner.words(text)


@contextmanager
def counted_front_end(service: SpeechService) -> Iterator[list[int]]:
    """Every text the service's phonemizers are given while the block runs, as its length."""
    calls: list[int] = []
    real = service.phonemizer

    def counting(build, lang):
        inner = real(build, lang)
        return (_CountedWords if hasattr(inner, "words") else _Counted)(inner, calls)

    service.phonemizer = counting  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        del service.phonemizer
