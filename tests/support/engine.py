"""Engine inputs prepared from real text and voices, for calling a backend directly."""

from __future__ import annotations

import numpy as np

from kokoro_server.service import SpeechRequest, SpeechService


def engine_inputs(service: SpeechService, texts: list[str], voice: str = "af_heart") -> list[tuple[list[int], np.ndarray]]:
    """(tokens, style) per text, as the pipeline would pass them to ``Backend.synthesize``."""
    result = []
    for text in texts:
        prepared = service.prepare(SpeechRequest(text=text, voice=voice))
        tokens = prepared.build.tokenize(service.phonemizer(prepared)(prepared.text))
        result.append((tokens, prepared.pack[len(tokens) - 1]))
    return result
