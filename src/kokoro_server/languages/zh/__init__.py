"""Mandarin Chinese: misaki's Mandarin G2P reads it (cn2an reads the numbers); ``written.json``
fixes what it misses (thousands separators, currency symbols, units, ranges)."""

from __future__ import annotations

from kokoro_server.languages.pack import G2P, LanguagePack
from kokoro_server.languages.written import WrittenForms
from kokoro_server.languages.zh.g2p import Mandarin
from kokoro_server.languages.zh.say_as import MandarinSayAs

PACK = LanguagePack(
    code="z",
    tags=("zh", "cmn"),
    name="Chinese (Mandarin)",
    g2p=G2P(Mandarin, "misaki-zh", spaced=False),
    normalize=WrittenForms.of(__name__).rules(),
    say_as=MandarinSayAs(),
    num2words=None,  # num2words has no Mandarin: cn2an reads the numbers
)
PACKS = (PACK,)
