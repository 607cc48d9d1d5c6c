"""French: espeak-ng reads it (digits, ordinals and percentages included); the table ``written.json``
fixes what espeak-ng gets wrong (see :mod:`kokoro_server.languages.written`), ``chunking.json`` says
where its sentences may be cut."""

from __future__ import annotations

from kokoro_server.languages.data import chunk_rules
from kokoro_server.languages.espeak import Espeak
from kokoro_server.languages.pack import G2P, LanguagePack
from kokoro_server.languages.written import WrittenForms

PACK = LanguagePack(
    code="f",
    tags=("fr-fr", "fr"),
    name="French",
    g2p=G2P(lambda: Espeak("fr-fr"), "espeak-ng", stress=True),
    normalize=WrittenForms.of(__name__).rules(),
    chunking=chunk_rules(__name__),
    num2words="fr",
    espeak="fr-fr",
)
PACKS = (PACK,)
