"""English, American and British: misaki's G2P (with espeak-ng for unknown words), the full
normalization of :mod:`kokoro_server.languages.en.normalize`, English ``<say-as>`` readings and
misaki's stress markup (``[word](+1)``, SSML ``<emphasis>``)."""

from __future__ import annotations

from kokoro_server.languages.data import chunk_rules
from kokoro_server.languages.en.g2p import MisakiEnglish
from kokoro_server.languages.en.normalize import american
from kokoro_server.languages.en.normalize import british as british_rules
from kokoro_server.languages.en.say_as import EnglishSayAs
from kokoro_server.languages.pack import G2P, LanguagePack

CHUNKING = chunk_rules(__name__)


def _english(code: str, tags: tuple[str, ...], name: str, british: bool) -> LanguagePack:
    return LanguagePack(
        code=code, tags=tags, name=name,
        g2p=G2P(lambda: MisakiEnglish(british=british), "misaki", stress=True),
        normalize=british_rules if british else american,
        say_as=EnglishSayAs(british=british), chunking=CHUNKING, num2words="en", espeak=tags[0])


US = _english("a", ("en-us", "en"), "English (US)", british=False)
GB = _english("b", ("en-gb",), "English (UK)", british=True)
PACKS = (US, GB)
