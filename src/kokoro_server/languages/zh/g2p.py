"""misaki's Mandarin G2P (jieba segmentation, pypinyin, cn2an numbers), all offline."""

from __future__ import annotations

import threading


class Mandarin:
    def __init__(self) -> None:
        import logging

        import jieba
        from misaki import zh

        jieba.setLogLevel(logging.WARNING)
        self._g2p = zh.ZHG2P()
        self._lock = threading.Lock()

    def __call__(self, text: str) -> str:
        with self._lock:
            phonemes, _ = self._g2p(text)
        return phonemes
