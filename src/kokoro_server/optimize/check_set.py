"""The quality bar's check set as model inputs, made by the product's own front end and voice packs
(the bar itself, :mod:`kokoro_server.engine.derived.quality.bar`, knows texts and voices only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kokoro_server.engine.derived.quality.bar import CHECK_SET, CheckUtterance
from kokoro_server.service import SpeechRequest


def check_utterances(service: Any, check_set: Sequence[tuple[str, str]] = CHECK_SET,
                     version: str = "v1_0") -> list[CheckUtterance]:
    """(voice, text) pairs as the tokens and style rows the service would give the model."""
    result = []
    for voice, text in check_set:
        prepared = service.prepare(SpeechRequest(text=text, voice=voice, model=version))
        _, padded = service.phonemize(text, prepared.lang, version)
        tokens = tuple(padded[1:-1])
        style = np.asarray(prepared.pack[prepared.build.style_row(len(tokens))], dtype=np.float32).reshape(1, -1)
        result.append(CheckUtterance(voice, prepared.lang, text, tokens, style))
    return result
