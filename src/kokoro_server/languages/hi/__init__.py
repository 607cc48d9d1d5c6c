"""Hindi: espeak-ng reads it (digits, ordinals and percentages included); the table ``written.json``
fixes what espeak-ng gets wrong (see :mod:`kokoro_server.languages.written`), ``chunking.json`` says
where its sentences may be cut."""

from __future__ import annotations

from kokoro_server.languages.data import chunk_rules
from kokoro_server.languages.espeak import Espeak
from kokoro_server.languages.pack import G2P, LanguagePack
from kokoro_server.languages.written import WrittenForms

PACK = LanguagePack(
    code="h",
    tags=("hi",),
    name="Hindi",
    g2p=G2P(lambda: Espeak("hi"), "espeak-ng", stress=True),
    normalize=WrittenForms.of(__name__).rules(),
    chunking=chunk_rules(__name__),
    num2words=None,  # num2words has no Hindi: <say-as> numbers stay digits, which espeak-ng reads in Hindi
    espeak="hi",
)
PACKS = (PACK,)
