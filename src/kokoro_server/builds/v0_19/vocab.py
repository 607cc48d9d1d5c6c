"""The fixed 178-symbol phoneme list of Kokoro v0.19 (v0.19 had no ``vocab`` in config.json)."""

from __future__ import annotations

_PAD = "$"
_PUNCTUATION = ';:,.!?¡¿—…"«»“” '
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_LETTERS_IPA = (
    "ɑɐɒæɓʙβɔɕçɗɖðʤəɘɚɛɜɝɞɟʄɡɠɢʛɦɧħɥʜɨɪʝɭɬɫɮʟɱɯɰŋɳɲɴøɵɸθœɶʘɹɺɾɻʀʁɽʂʃʈʧʉʊʋⱱʌɣɤʍχʎʏʑʐʒʔʡʕʢǀǁǂǃ"
    "ˈˌːˑʼʴʰʱʲʷˠˤ˞↓↑→↗↘'̩'ᵻ"
)

SYMBOLS: list[str] = [_PAD, *_PUNCTUATION, *_LETTERS, *_LETTERS_IPA]
# As v0.19's own code built it: a later duplicate (the apostrophe) wins.
VOCAB: dict[str, int] = {symbol: index for index, symbol in enumerate(SYMBOLS)}
