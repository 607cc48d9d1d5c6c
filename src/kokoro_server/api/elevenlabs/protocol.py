"""Wire shapes of ElevenLabs' text-to-speech API as its clients send and read them (the `elevenlabs`
SDK, LiveKit's and Pipecat's plugins): REST bodies, WebSocket messages and answers, errors.

Fields that only matter to ElevenLabs' own models (stability, similarity_boost, style,
use_speaker_boost, seed, previous/next text and request ids, pronunciation dictionaries, logging,
latency optimization, SSML parsing) are accepted and have no effect; ``voice_settings.speed`` is the
speed. Names of ElevenLabs' models (``eleven_*``) select the default model; our model names
(``kokoro``, ``kokoro-v1_0``, ``v0_19``) select theirs.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kokoro_server.builds import Build
from kokoro_server.errors import KokoroError
from kokoro_server.service import MAX_SPEED, MIN_SPEED
from kokoro_server.text.normalize import DEFAULT_OPTIONS, NormalizationOptions

DEFAULT_OUTPUT_FORMAT = "mp3_44100_128"
DEFAULT_SCHEDULE = (120, 160, 250, 290)  # ElevenLabs' default chunk_length_schedule (characters)
MIN_SCHEDULE, MAX_SCHEDULE = 50, 500
DEFAULT_INACTIVITY_S = 20
TextNormalization = Literal["auto", "on", "off"]


class VoiceSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    stability: float | None = None
    similarity_boost: float | None = None
    style: float | None = None
    use_speaker_boost: bool | None = None
    speed: float | None = Field(None, ge=MIN_SPEED, le=MAX_SPEED)


class GenerationConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    chunk_length_schedule: list[float] | None = None

    def schedule(self) -> tuple[int, ...] | None:
        if not self.chunk_length_schedule:
            return None
        return tuple(int(min(max(n, MIN_SCHEDULE), MAX_SCHEDULE)) for n in self.chunk_length_schedule)


class TextToSpeechBody(BaseModel):
    """``POST /v1/text-to-speech/{voice_id}`` (and ``/stream``, ``/with-timestamps``,
    ``/stream/with-timestamps``)."""

    model_config = ConfigDict(extra="ignore")

    text: str
    model_id: str | None = None
    language_code: str | None = None
    voice_settings: VoiceSettings | None = None
    apply_text_normalization: TextNormalization | None = None
    # accepted for compatibility: no effect on Kokoro
    pronunciation_dictionary_locators: list[Any] | None = None
    seed: int | None = None
    previous_text: str | None = None
    next_text: str | None = None
    previous_request_ids: list[str] | None = None
    next_request_ids: list[str] | None = None
    use_pvc_as_ivc: bool | None = None
    apply_language_text_normalization: bool | None = None


class SocketMessage(BaseModel):
    """Any message a client sends on ``stream-input`` or ``multi-stream-input``; which one it is
    follows from the fields it has (ElevenLabs' messages are told apart the same way)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    text: str | None = None
    context_id: str | None = Field(None, max_length=256)
    voice_settings: VoiceSettings | None = None
    generation_config: GenerationConfig | None = None
    try_trigger_generation: bool | None = None
    flush: bool | None = None
    close_context: bool | None = None
    close_socket: bool | None = None
    xi_api_key: str | None = Field(None, alias="xi-api-key")
    xi_api_key_underscored: str | None = Field(None, alias="xi_api_key")
    authorization: str | None = None
    pronunciation_dictionary_locators: list[Any] | None = None

    def api_key(self) -> str | None:
        if self.xi_api_key or self.xi_api_key_underscored:
            return self.xi_api_key or self.xi_api_key_underscored
        scheme, _, token = (self.authorization or "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None


# -- answers ------------------------------------------------------------------------------------

def socket_alignment(chars: list[str], starts_s: list[float], ends_s: list[float]) -> dict[str, Any]:
    """A WebSocket answer's alignment: milliseconds from the start of the message's audio."""
    starts = [round(s * 1000) for s in starts_s]
    return {"chars": chars, "charStartTimesMs": starts,
            "charDurationsMs": [max(0, round(e * 1000) - s) for s, e in zip(starts, ends_s, strict=True)]}


def rest_alignment(chars: list[str], starts_s: list[float], ends_s: list[float]) -> dict[str, Any]:
    """A REST answer's alignment: seconds from the start of the request's audio."""
    return {"characters": chars, "character_start_times_seconds": [round(s, 3) for s in starts_s],
            "character_end_times_seconds": [round(e, 3) for e in ends_s]}


def error_status(error: KokoroError) -> str:
    """ElevenLabs' ``status`` / ``error`` names for our errors."""
    return {"voice_not_found": "voice_not_found", "model_not_found": "model_not_found",
            "invalid_api_key": "invalid_api_key", "queue_full": "too_many_concurrent_requests",
            "input_too_long": "max_character_limit_exceeded"}.get(error.code or "", error.code or "invalid_request")


class ErrorDetail(BaseModel):
    status: str
    message: str


class ErrorBody(BaseModel):
    """ElevenLabs' REST error body."""

    detail: ErrorDetail


def rest_error(status: str, message: str) -> dict[str, Any]:
    """ElevenLabs' REST error body."""
    return {"detail": {"status": status, "message": message}}


def socket_error(error: str, message: str, code: int, context_id: str | None = None) -> dict[str, Any]:
    """ElevenLabs' WebSocket error message (then the socket is closed with ``code``, or only the
    context ends)."""
    answer: dict[str, Any] = {"message": message, "error": error, "code": code}
    if context_id is not None:
        answer["contextId"] = context_id
    return answer


# -- what the fields mean here ------------------------------------------------------------------

_ELEVENLABS_VOICE_ID = re.compile(r"[A-Za-z0-9]{20}")
_BREAK = re.compile(r"<break\s{1,10}time\s{0,5}=\s{0,5}[\"'](\d{1,6}(?:\.\d{1,6})?)\s{0,5}(ms|s)[\"']\s{0,10}/?>",
                    re.IGNORECASE)
_PHONEME = re.compile(r"<phoneme\b[^<>]{0,1000}>([^<>]{0,300})</phoneme>", re.IGNORECASE)


def inline_markup(text: str) -> str:
    """ElevenLabs' tags in a message as our inline markup: ``<break time="1.5s" />`` is a pause
    (``[pause:1.5s]``); a ``<phoneme ...>word</phoneme>`` is its word (ElevenLabs' phoneme
    alphabets are not Kokoro's). Only whole tags within one message are read."""
    if "<" not in text:
        return text
    return _PHONEME.sub(r"\1", _BREAK.sub(r"[pause:\1\2]", text))


def kokoro_voice(voice_id: str) -> str | None:
    """Our voice ids and mixes as they are; an ElevenLabs voice id (20 letters and digits, such as
    LiveKit's default ``hpp4J3VqNfWAUOO0d1Us``) is the default voice (KOKORO_DEFAULT_VOICE), so a client
    whose URL alone was changed still speaks."""
    return None if _ELEVENLABS_VOICE_ID.fullmatch(voice_id) and not voice_id.isalpha() else voice_id


def kokoro_model(model_id: str | None) -> str | None:
    """ElevenLabs' model names select the default model; ours select theirs."""
    if not model_id or model_id.lower().startswith("eleven"):
        return None
    return model_id


def normalization(mode: str | None) -> NormalizationOptions:
    return NormalizationOptions(normalize=False) if mode == "off" else DEFAULT_OPTIONS


def kokoro_language(language_code: str | None, voice: str | None, build: Build) -> str | None:
    """ISO 639-1 (``en``, ``es``, ``ja``) -> the one-letter Kokoro code, None where the voice's own
    language is that language (``en`` with a British voice stays British)."""
    if not language_code:
        return None
    iso = language_code.strip().lower().replace("_", "-")
    codes = [code for code, language in build.languages.items()
             if language.tag.lower() == iso or language.tag.lower().split("-")[0] == iso.split("-")[0]]
    own = (voice or "")[:1].lower()
    if not codes or own in codes:
        return None
    return codes[0]
