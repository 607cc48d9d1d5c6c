"""Inline markup (Kokoro-FastAPI compatible) into the document model, and the choice of parser.

Tags, all optional, anywhere in the text:

- ``[pause:1.5s]``, ``[pause:300ms]``: exactly that much silence, at any speed (also a chunk boundary);
- ``[word](/phonemes/)``: the word is spoken with the given phonemes, never normalized;
- ``[word](+1)``, ``[word](-1)``, ``[word](0.5)``...: misaki's stress adjustment of the word;
- ``[voice:am_michael]`` (or a mix such as ``[voice:af_bella(2)+af_sky(1)]``): the following text is
  spoken with that voice; ``[voice:]`` (or ``[voice:default]``) goes back to the request's voice.

Any other ``[text](target)`` (e.g. a Markdown link) is spoken as its text, as misaki does. Everything
else, brackets included, is text. Matching is linear: every repetition is bounded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from kokoro_server.errors import InvalidInputError, quote
from kokoro_server.text.document import (MAX_PAUSE_SECONDS, Document, Pause, Phonemes, Segment, Stressed, Text,
                                         VoiceChange, plain)
from kokoro_server.text.ssml import parse_ssml
InputFormat = Literal["text", "ssml", "phonemes"]

_TAG = re.compile(
    r"\[pause:[ \t]{0,8}(?P<pause>\d{1,6}(?:\.\d{0,6})?)[ \t]{0,8}(?P<unit>ms|s)?[ \t]{0,8}\]"
    r"|\[voice:[ \t]{0,8}(?P<voice>[^\]\s]{0,300})[ \t]{0,8}\]"
    r"|\[(?P<word>[^\[\]\n]{1,300})\]\((?P<link>[^()\n]{0,1000})\)",
    re.IGNORECASE)
_STRESS = re.compile(r"[+-]?\d{1,2}|[+-]?0?\.5")


def _link(word: str, target: str, start: int, end: int, word_start: int) -> Segment:
    """misaki's link forms: ``/phonemes/``, a stress number; anything else is just the word."""
    word_end = word_start + len(word)
    if len(target) > 1 and target[0] == "/" and target[-1] == "/":
        return Phonemes(target[1:].rstrip("/"), word, word_start, word_end, at=word_end + 3)
    if _STRESS.fullmatch(target):
        return Stressed(word, float(target), word_start, word_end)
    return Text(word, word_start, word_end)


def parse_inline(source: str) -> Document:
    """Text with inline markup -> document (spans point into ``source``)."""
    segments: list[Segment] = []
    position = 0
    for match in _TAG.finditer(source):
        if match.start() > position:
            segments.append(Text(source[position:match.start()], position, match.start()))
        start, end = match.span()
        if match.group("pause") is not None:
            amount = float(match.group("pause"))
            seconds = amount / 1000 if (match.group("unit") or "s").lower() == "ms" else amount
            if seconds > MAX_PAUSE_SECONDS:
                raise InvalidInputError(f"pause of {seconds:g} s at input characters {start}-{end} is longer than "
                                        f"{MAX_PAUSE_SECONDS:g} s", param="input")
            segments.append(Pause(seconds, start, end))
        elif match.group("voice") is not None:
            voice = match.group("voice").strip()
            segments.append(VoiceChange(None if voice.lower() in ("", "default") else voice, start, end))
        else:
            segments.append(_link(match.group("word"), match.group("link").strip(), start, end, start + 1))
        position = end
    if position < len(source):
        segments.append(Text(source[position:], position, len(source)))
    return Document(source, tuple(segments))


def check_phonemes(document: Document, vocab: Mapping[str, int]) -> None:
    """Every given phoneme must be one the model knows: else an error naming the symbol and its place."""
    for segment in document.segments:
        if not isinstance(segment, Phonemes):
            continue
        for k, symbol in enumerate(segment.phonemes):
            if symbol not in vocab and not symbol.isspace():
                where = f"input character {segment.at + k}" if segment.at >= 0 else \
                    f"input characters {segment.start}-{segment.end}"
                near = segment.phonemes[max(0, k - 40):k + 20]  # the symbol in its context, not the whole string
                word = f" for {quote(segment.text, 40)}" if segment.text != segment.phonemes else ""
                raise InvalidInputError(f"invalid phoneme {symbol!r} (U+{ord(symbol):04X}) at {where}, position {k} "
                                        f"of {len(segment.phonemes)} phonemes{word} (near {near!r}): not in this "
                                        "model's phoneme set (see POST /dev/phonemize for examples)", param="input")


def parse_phonemes(source: str) -> Document:
    """A phoneme string (as ``POST /dev/phonemize`` gives): each space-separated group is one word."""
    segments = tuple(Phonemes(m.group(0), m.group(0), m.start(), m.end(), at=m.start())
                     for m in re.finditer(r"\S+", source))
    return Document(source, segments)


def is_ssml(text: str) -> bool:
    return text.lstrip().startswith("<speak")


def parse(source: str, *, markup: bool = True, input_format: InputFormat | None = None) -> Document:
    """The request input as a document: SSML when asked for (or when it starts with ``<speak>``),
    else inline markup unless ``markup`` is off, else plain text; ``phonemes``: the input is phonemes.
    Language-blind: what depends on the language (which one each part is read in, ``<say-as>``
    readings) is left to :func:`kokoro_server.languages.read_languages`."""
    if input_format == "phonemes":
        return parse_phonemes(source)
    if input_format == "ssml" or (input_format is None and markup and is_ssml(source)):
        return parse_ssml(source)
    return parse_inline(source) if markup else plain(source)
