"""Phonemes word by word: the phonemizer's output split into the words (and the punctuation and
spaces between them) of the text it read, with each word's place in that text.

misaki's English G2P says which phonemes belong to which token (``MToken``). Other front ends give one
string: for languages that put spaces between words it is split at its spaces and matched with the
words of the text (and when the counts differ, each word is phonemized on its own); for Japanese and
Mandarin each run between punctuation marks is one "word". Every character is phonemized at most
twice, so the work stays linear in the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

PUNCTUATION = set(';:,.!?¡¿—…"«»“”()[]{}、。，．！？：；「」『』‘’\'-–')
_SPACED_WORD = re.compile(r"\S+")
_UNSPACED_RUN = re.compile(r"[^\s" + re.escape("".join(sorted(PUNCTUATION))) + r"]+")


@dataclass(frozen=True)
class Token:
    """``text[start:end]`` reads as ``phonemes``; ``word`` False for punctuation and spaces."""

    start: int
    end: int
    phonemes: str
    word: bool


@runtime_checkable
class WordPhonemizer(Protocol):
    """A phonemizer that can say which phonemes belong to which word."""

    def words(self, text: str) -> list[tuple[str, str, str]]:
        """``(token text, phonemes, whitespace after it)`` in order; token texts appear in ``text``."""
        ...


def is_word(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _from_pieces(text: str, pieces: list[tuple[str, str, str]]) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    for piece, phonemes, whitespace in pieces:
        found = text.find(piece, position) if piece else -1
        start = found if found >= 0 else position
        end = start + len(piece) if found >= 0 else start
        tokens.append(Token(start, end, phonemes, is_word(piece) and bool(phonemes.strip())))
        position = end
        if whitespace:
            tokens.append(Token(end, end + len(whitespace), whitespace, False))
            position = end + len(whitespace) if text.startswith(whitespace, end) else position
    return tokens


def _split_punctuation(start: int, end: int, word: str, phonemes: str) -> list[Token]:
    """A word and its phonemes with the punctuation around them as tokens of their own."""
    lead = len(phonemes) - len(phonemes.lstrip("".join(PUNCTUATION)))
    core = phonemes[lead:].rstrip("".join(PUNCTUATION))
    trail = len(phonemes) - lead - len(core)
    w_lead = len(word) - len(word.lstrip("".join(PUNCTUATION)))
    w_core = word[w_lead:].rstrip("".join(PUNCTUATION))
    w_start, w_end = start + w_lead, start + w_lead + len(w_core)
    if not w_core:
        return [Token(start, end, phonemes, False)]
    tokens = []
    if lead:
        tokens.append(Token(start, w_start, phonemes[:lead], False))
    tokens.append(Token(w_start, w_end, core, bool(core.strip())))
    if trail:
        tokens.append(Token(w_end, end, phonemes[len(phonemes) - trail:], False))
    return tokens


def _spaced(phonemize: Callable[[str], str], text: str) -> list[Token]:
    words = [(m.start(), m.end()) for m in _SPACED_WORD.finditer(text)]
    whole = phonemize(text).split()
    if len(whole) != len(words):
        whole = [phonemize(text[a:b]).strip() for a, b in words]
    tokens: list[Token] = []
    for k, ((start, end), phonemes) in enumerate(zip(words, whole)):
        if k:
            tokens.append(Token(words[k - 1][1], start, " ", False))
        tokens.extend(_split_punctuation(start, end, text[start:end], phonemes))
    return tokens


def _unspaced(phonemize: Callable[[str], str], text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    for match in _UNSPACED_RUN.finditer(text):
        if match.start() > position:
            between = text[position:match.start()]
            tokens.append(Token(position, match.start(), phonemize(between) if between.strip() else " ", False))
        tokens.append(Token(match.start(), match.end(), phonemize(match.group(0)), True))
        position = match.end()
    if position < len(text):
        tail = text[position:]
        tokens.append(Token(position, len(text), phonemize(tail) if tail.strip() else "", False))
    return [t for t in tokens if t.phonemes or t.word]


def phonemize_words(phonemize: Callable[[str], str], text: str) -> list[Token]:
    """``text`` phonemized, as tokens in order (spaces between words are tokens too)."""
    if isinstance(phonemize, WordPhonemizer):
        return _from_pieces(text, phonemize.words(text))
    if getattr(phonemize, "spaced", True):
        return _spaced(phonemize, text)
    return _unspaced(phonemize, text)
