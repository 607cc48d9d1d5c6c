"""Voice mix specifications: ``af_bella``, ``af_bella+af_sky``, ``af_bella(2)+af_sky(1)``.

Weights are finite numbers above 0, normalised to sum to one; the mixed pack is the weighted mean of the packs.
A hand-written scanner (no backtracking regex) keeps parsing linear on any input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kokoro_server.errors import InvalidVoiceSpecError

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
        raise InvalidVoiceSpecError(f"voice mix {spec!r}: the weights are too large (their sum overflows)",
                                    param="voice")
    return VoiceMix(tuple((name, weight / total) for name, weight in merged.items()))


def _parse_piece(piece: str, spec: str) -> tuple[str, float]:
    if not piece:
        raise InvalidVoiceSpecError(f"malformed voice mix {spec!r}: empty part", param="voice")
    weight = 1.0
    name = piece
    if piece.endswith(")"):
        open_at = piece.find("(")
        if open_at <= 0:
            raise InvalidVoiceSpecError(f"malformed voice mix {spec!r} at {piece!r}", param="voice")
        name = piece[:open_at].strip()
        weight_text = piece[open_at + 1:-1].strip()
        try:
            weight = float(weight_text)
        except ValueError:
            raise InvalidVoiceSpecError(
                f"malformed voice mix {spec!r}: weight {weight_text!r} is not a number", param="voice") from None
        if not (math.isfinite(weight) and weight > 0):
            raise InvalidVoiceSpecError(f"malformed voice mix {spec!r}: weight {weight_text!r} must be a finite "
                                        "number above 0", param="voice")
    if not name or any(ch not in _NAME_CHARS for ch in name):
        raise InvalidVoiceSpecError(f"malformed voice mix {spec!r}: bad voice name {name!r}", param="voice")
    return name, weight
