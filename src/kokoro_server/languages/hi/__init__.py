"""Hindi: espeak-ng reads it (digits, ordinals and percentages included); ``written.json`` fixes what
espeak-ng gets wrong (see :mod:`kokoro_server.languages.written`), ``chunking.json`` says where its
sentences may be cut."""

from __future__ import annotations

from kokoro_server.languages.espeak import espeak_pack

# num2words has no Hindi: <say-as> numbers stay digits, which espeak-ng reads in Hindi
PACK = espeak_pack(__name__, code="h", tags=("hi",), name="Hindi", num2words=None)
PACKS = (PACK,)
