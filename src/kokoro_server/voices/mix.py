"""Voice mix specifications: ``af_bella``, ``af_bella+af_sky``, ``af_bella(2)+af_sky(1)``.

Weights are finite numbers above 0, normalised to sum to one; the mixed pack is the weighted mean of the packs.
A hand-written scanner (no backtracking regex) keeps parsing linear on any input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kokoro_server.errors import InvalidVoiceSpecError, quote

MAX_VOICES_IN_MIX = 16
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


@dataclass(frozen=True)
class VoiceMix:
    parts: tuple[tuple[str, float], ...]  # (voice name, normalised weight)

    @property
    def canonical(self) -> str:
        if len(self.parts) == 1:
            return self.parts[0][0]
        return "+".join(f"{name}({weight:g})" for name, weight in self.parts)


NEW_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
NEW_NAME_MAX = 64


def is_new_voice_name(name: str) -> bool:
    """A name a voice may be installed or saved under (``voices add --name``, ``combine`` ``name``):
    1 to 64 letters, digits, ``_`` and ``-``, starting with a letter or digit. No dot, so the name is
    the file's whole stem (``af_mix`` -> ``af_mix.pt``; ``af_mix.pt`` is refused, not saved as
    ``af_mix.pt.pt``), like the names the official voices have."""
    return 0 < len(name) <= NEW_NAME_MAX and name[0].isalnum() and all(ch in NEW_NAME_CHARS for ch in name)


def is_voice_name(name: str) -> bool:
    """A name a single voice file may have (``af_heart``): what a mix can refer to, and safe as a file name."""
    return 0 < len(name) <= 64 and not name.startswith(".") and all(ch in _NAME_CHARS for ch in name)


def parse_mix(spec: str) -> VoiceMix:
    text = spec.strip()
    if not text:
        raise InvalidVoiceSpecError("voice is empty", param="voice")
    if len(text) > 1000:
        raise InvalidVoiceSpecError("voice specification is too long", param="voice")
    raw: list[tuple[str, float]] = []
    for piece in text.split("+"):
        raw.append(_parse_piece(piece.strip(), spec))
    if len(raw) > MAX_VOICES_IN_MIX:
        raise InvalidVoiceSpecError(f"a mix may have at most {MAX_VOICES_IN_MIX} voices", param="voice")
    merged: dict[str, float] = {}
    for name, weight in raw:
        merged[name] = merged.get(name, 0.0) + weight
    total = sum(merged.values())
    if not math.isfinite(total):
        raise InvalidVoiceSpecError(f"voice mix {quote(spec)}: the weights are too large (their sum overflows)",
                                    param="voice")
    return VoiceMix(tuple((name, weight / total) for name, weight in merged.items()))


def _parse_piece(piece: str, spec: str) -> tuple[str, float]:
    if not piece:
        raise InvalidVoiceSpecError(f"malformed voice mix {quote(spec)}: empty part", param="voice")
    weight = 1.0
    name = piece
    if piece.endswith(")"):
        open_at = piece.find("(")
        if open_at <= 0:
            raise InvalidVoiceSpecError(f"malformed voice mix {quote(spec)} at {quote(piece)}", param="voice")
        name = piece[:open_at].strip()
        weight_text = piece[open_at + 1:-1].strip()
        try:
            weight = float(weight_text)
        except ValueError:
            raise InvalidVoiceSpecError(
                f"malformed voice mix {quote(spec)}: weight {quote(weight_text)} is not a number", param="voice") from None
        if not (math.isfinite(weight) and weight > 0):
            raise InvalidVoiceSpecError(f"malformed voice mix {quote(spec)}: weight {quote(weight_text)} must be a finite "
                                        "number above 0", param="voice")
    if not name or any(ch not in _NAME_CHARS for ch in name):
        raise InvalidVoiceSpecError(f"malformed voice mix {quote(spec)}: bad voice name {quote(name)}", param="voice")
    return name, weight
