"""Spanish: espeak-ng reads it (digits, ordinals and percentages included); ``written.json`` fixes what
espeak-ng gets wrong (see :mod:`kokoro_server.languages.written`), ``chunking.json`` says where its
sentences may be cut."""

from __future__ import annotations

from kokoro_server.languages.espeak import espeak_pack

PACK = espeak_pack(__name__, code="e", tags=("es",), name="Spanish", num2words="es")
PACKS = (PACK,)
