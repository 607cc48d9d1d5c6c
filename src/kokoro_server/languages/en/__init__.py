"""English, American and British: misaki's G2P (with espeak-ng for unknown words), the full
normalization of :mod:`kokoro_server.languages.en.normalize`, English ``<say-as>`` readings and
misaki's stress markup (``[word](+1)``, SSML ``<emphasis>``)."""

from __future__ import annotations

from kokoro_server.languages.data import chunk_rules
from kokoro_server.languages.en.g2p import MisakiEnglish
from kokoro_server.languages.en.normalize import american, british
from kokoro_server.languages.en.say_as import EnglishSayAs
from kokoro_server.languages.pack import G2P, LanguagePack

CHUNKING = chunk_rules(__name__)

US = LanguagePack(
    code="a",
    tags=("en-us", "en"),
    name="English (US)",
    g2p=G2P(lambda: MisakiEnglish(british=False), "misaki", stress=True),
    normalize=american,
    say_as=EnglishSayAs(british=False),
    chunking=CHUNKING,
    num2words="en",
    espeak="en-us",
)
GB = LanguagePack(
    code="b",
    tags=("en-gb",),
    name="English (UK)",
    g2p=G2P(lambda: MisakiEnglish(british=True), "misaki", stress=True),
    normalize=british,
    say_as=EnglishSayAs(british=True),
    chunking=CHUNKING,
    num2words="en",
    espeak="en-gb",
)
PACKS = (US, GB)
