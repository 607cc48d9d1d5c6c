"""Japanese: pyopenjtalk-plus reads it (numbers included); ``written.json`` fixes what it drops
(thousands separators, minus signs, currency symbols, ``%``, ranges)."""

from __future__ import annotations

from kokoro_server.languages.ja.g2p import Japanese
from kokoro_server.languages.pack import G2P, LanguagePack
from kokoro_server.languages.written import WrittenForms

PACK = LanguagePack(
    code="j",
    tags=("ja",),
    name="Japanese",
    g2p=G2P(Japanese, "pyopenjtalk", spaced=False),
    normalize=WrittenForms.of(__name__).rules(),
    num2words="ja",
)
PACKS = (PACK,)
