"""Wire schemas of the HTTP API (OpenAI's shapes plus Kokoro extras) and the OpenAI voice names."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kokoro_server.audio.encoders import FORMATS
from kokoro_server.languages import LANGUAGES
from kokoro_server.service import MAX_SPEED, MAX_VOLUME, MIN_SPEED, MIN_VOLUME, SpeechRequest
from kokoro_server.text.normalize import DEFAULT_OPTIONS, NormalizationOptions

# every format of the encoders' registry (adding a format there adds it here)
ResponseFormat = Literal[tuple(FORMATS)]  # type: ignore[valid-type]

OPENAI_VOICES: dict[str, str] = {
    "alloy": "af_alloy",
    "ash": "am_adam",
    "ballad": "bm_lewis",
    "coral": "af_heart",
    "echo": "am_echo",
    "fable": "bm_fable",
    "onyx": "am_onyx",
    "nova": "af_nova",
    "sage": "af_sarah",
    "shimmer": "af_bella",
    "verse": "am_michael",
    "marin": "af_kore",
    "cedar": "am_fenrir",
}
"""OpenAI voice name -> the Kokoro v1.0 voice it stands for (the README shows this table)."""


def _languages(field: str, default: str) -> Any:
    """A language field's schema text, read from the language registry when the schema is made (so a
    pack registered later is listed too)."""
    def extra(schema: dict[str, Any]) -> None:
        schema["description"] = (f"Kokoro language: its one-letter code or a BCP-47 tag ({LANGUAGES.describe()}); "
                                 f"{default}")
        schema["examples"] = [pack.code for pack in LANGUAGES]
    return extra


def kokoro_voice(name: str) -> str:
    """An OpenAI voice name becomes its Kokoro voice; anything else (a Kokoro voice or mix) stays."""
    return OPENAI_VOICES.get(name.strip().lower(), name)


class VoiceId(BaseModel):
    """OpenAI's custom-voice object form: ``{"id": "af_heart"}``."""

    id: str


class SpeechBody(BaseModel):
    """``POST /v1/audio/speech``: every OpenAI field, plus Kokoro's extras."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field("kokoro", description="kokoro or any OpenAI TTS model name (tts-1, tts-1-hd, "
                                             "gpt-4o-mini-tts and their snapshots such as "
                                             "gpt-4o-mini-tts-2025-03-20): the default version; "
                                             "kokoro-v1_0 or kokoro-v0_19.")
    input: str = Field(..., description="The text to speak (at most KOKORO_MAX_INPUT_CHARS characters).")
    voice: str | VoiceId | None = Field(None, description="A Kokoro voice (af_heart), a mix "
                                                          "(af_bella(2)+af_sky(1)) or an OpenAI voice name "
                                                          "(alloy, echo, ...); default KOKORO_DEFAULT_VOICE.")
    response_format: ResponseFormat = "mp3"
    speed: float = Field(1.0, ge=MIN_SPEED, le=MAX_SPEED)
    stream_format: Literal["audio", "sse"] = Field(
        "audio", description="audio: the audio bytes; sse: server-sent events speech.audio.delta "
                             "(base64 audio in response_format) and a final speech.audio.done.")
    instructions: str | None = Field(None, description="Accepted for compatibility and ignored: Kokoro "
                                                       "has no instruction following.")
    # Kokoro extras
    lang_code: str | None = Field(None, json_schema_extra=_languages(
        "lang_code", "default: the voice's language (its name's first letter). A voice change in the markup "
                     "switches to that voice's language; SSML <lang xml:lang> switches too."))
    volume_multiplier: float = Field(1.0, ge=MIN_VOLUME, le=MAX_VOLUME)
    normalization_options: NormalizationOptions = DEFAULT_OPTIONS
    markup: bool = Field(True, description="Read inline markup: [pause:1.5s], [word](/phonemes/), [word](+1), "
                                           "[voice:am_michael]. false: brackets are spoken as written.")
    input_format: Literal["text", "ssml", "phonemes"] | None = Field(
        None, description="ssml: the input is SSML (a subset, see the README); text: never SSML; phonemes: the "
                          "input is a phoneme string; default: SSML when the input starts with <speak>.")
    stream: bool = Field(True, description="true: audio is sent as it is synthesized; false: the whole "
                                           "file at once (with Content-Length). Ignored for sse.")
    return_download_link: bool = Field(False, description="Also keep the complete file for a while; its "
                                                          "path is in the X-Download-Path header.")
    download_format: ResponseFormat | None = Field(
        None, description="With return_download_link: the kept file's format (default: response_format); "
                          "the same audio is encoded a second time, e.g. pcm to play while streaming and "
                          "mp3 to keep.")

    timestamps: bool = Field(False, description="With stream_format sse: after each speech.audio.delta "
                                                "also a speech.audio.words event with the words heard in "
                                                "it; with return_download_link also the captions "
                                                "(X-Captions-Path).")

    def voice_name(self) -> str | None:
        voice = self.voice.id if isinstance(self.voice, VoiceId) else self.voice
        return kokoro_voice(voice) if voice else None

    def to_request(self) -> SpeechRequest:
        return SpeechRequest(text=self.input, voice=self.voice_name(), model=self.model, speed=self.speed,
                             lang=self.lang_code or None, normalization=self.normalization_options,
                             markup=self.markup, input_format=self.input_format)


class PhonemizeBody(BaseModel):
    """``POST /dev/phonemize`` (Kokoro-FastAPI's shape)."""

    text: str
    language: str = Field("a", json_schema_extra=_languages("language", "default: a."))
    model: str | None = Field(None, description="Whose phoneme set; default: the default version.")


class PhonemizeResponse(BaseModel):
    phonemes: str
    tokens: list[int] = Field(description="Token ids, with the pad token 0 at both ends.")


class GenerateFromPhonemesBody(BaseModel):
    """``POST /dev/generate_from_phonemes`` (Kokoro-FastAPI's shape, plus optional speed, model, format)."""

    phonemes: str
    voice: str
    speed: float = Field(1.0, ge=MIN_SPEED, le=MAX_SPEED)
    model: str = "kokoro"
    response_format: ResponseFormat = "wav"

    def to_speech(self) -> SpeechBody:
        return SpeechBody(model=self.model, input=self.phonemes, voice=self.voice, speed=self.speed,
                          response_format=self.response_format, input_format="phonemes")


class LexiconObject(BaseModel):
    lang: str = Field(description="One-letter Kokoro language code (the file's name).")
    file: str
    entries: dict[str, str] = Field(description="Word -> phonemes, as loaded.")
    problems: list[str] = Field(description="Entries skipped, each as file:line: what is wrong.")


class LexiconList(BaseModel):
    lexicons: list[LexiconObject]


class CaptionsBody(SpeechBody):
    """``POST /v1/audio/captions``: the speech fields, and the caption file's format."""

    caption_format: Literal["srt", "vtt", "json"] = Field(
        "srt", description="srt (SubRip), vtt (WebVTT) or json (every word with its times and characters).")


class CaptionedSpeechBody(SpeechBody):
    """``POST /dev/captioned_speech``, as Kokoro-FastAPI has it (its fields, the same defaults)."""

    return_timestamps: bool = Field(True, description="Word timestamps with each piece of audio.")


class WordTimestamp(BaseModel):
    word: str = Field(description="The word as written in the input (\"$5\" for the spoken \"five dollars\").")
    start_time: float = Field(description="Seconds from the start of the audio.")
    end_time: float
    char_start: int = Field(description="Where the word is in the input (characters, end exclusive).")
    char_end: int


class CaptionedSpeechResponse(BaseModel):
    audio: str = Field(description="Base64 audio in response_format (streamed: this piece's bytes).")
    audio_format: str = Field(description="Its media type, e.g. audio/mpeg.")
    timestamps: list[WordTimestamp] = Field(default_factory=list)


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class Usage(BaseModel):
    input_tokens: int = Field(description="Phoneme tokens synthesized.")
    output_tokens: int = Field(description="Audio frames of 25 ms produced.")
    total_tokens: int


class VoiceObject(BaseModel):
    id: str = Field(description="Unique across versions and usable as the voice of any request: the name "
                                "for the default version (af_bella), <version>/<name> for another "
                                "(v0_19/af_bella).")
    name: str
    language: str = Field(description="Language tag, e.g. en-us.")
    language_code: str = Field(description="Kokoro's one-letter code.")
    language_name: str
    gender: str
    version: str
    model: str = Field(description="The model name that selects this voice's version.")
    supported: bool = Field(description="False: no offline text front end for its language yet.")
    openai_names: list[str] = Field(default_factory=list, description="OpenAI voice names mapped to it.")


class VoiceList(BaseModel):
    voices: list[VoiceObject]


class LegacyVoiceList(BaseModel):
    """``GET /v1/audio/voices?legacy=true``: Kokoro-FastAPI's plain list of voice ids."""

    voices: list[str]


class CombineBody(BaseModel):
    voices: str | list[str] = Field(..., description="A mix like af_bella(2)+af_sky(1), or a list of voices "
                                                     "(each may carry a weight) mixed equally.")
    model: str | None = Field(None, description="Which version's packs to mix; default: routed by voice.")
    name: str | None = Field(None, description="Also save the mix as voices/<version>/<name>.pt, e.g. af_mine.")

    def spec(self) -> str:
        return self.voices if isinstance(self.voices, str) else "+".join(self.voices)

    @classmethod
    def of(cls, body: CombineBody | str | list[str]) -> CombineBody:
        """The body as sent: this object, or Kokoro-FastAPI's bare ``"af_bella+af_sky"`` or
        ``["af_bella", "af_sky"]``."""
        return body if isinstance(body, CombineBody) else cls(voices=body)


class SpeedRange(BaseModel):
    min: float
    max: float


class LanguageObject(BaseModel):
    """A language pack, as ``GET /v1/config`` lists it."""

    code: str = Field(description="One-letter Kokoro code, also the first letter of its voices' names.")
    tag: str = Field(description="Its BCP-47 tag, e.g. en-us.")
    tags: list[str] = Field(description="Every tag that names it (lang_code, SSML xml:lang).")
    name: str
    g2p: str = Field(description="Its grapheme-to-phoneme engine, e.g. misaki, espeak-ng.")
    emphasis: bool = Field(description="SSML <emphasis> and [word](+1) move its stress.")
    versions: list[str] = Field(description="The model versions that read it.")


class ServerConfig(BaseModel):
    """``GET /v1/config``: the limits and defaults a client (the web page) needs to know."""

    max_input_chars: int = Field(description="KOKORO_MAX_INPUT_CHARS: longest accepted input.")
    default_model: str = Field(description="The version that kokoro and OpenAI's model names "
                                           "(tts-1, gpt-4o-mini-tts, ...) select.")
    default_voices: dict[str, str] = Field(description="Version -> the voice a request for it uses by default "
                                                       "(its id in GET /v1/audio/voices).")
    response_formats: list[str]
    speed: SpeedRange
    download_links: bool = Field(description="False when KOKORO_DOWNLOAD_MAX_BYTES=0 (return_download_link "
                                             "is then refused).")
    download_ttl_s: int
    languages: list[LanguageObject] = Field(default_factory=list, description="The language packs, in the "
                                                                              "registry's order.")


class ModelObject(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "kokoro-server"
    version: str
    title: str
    status: Literal["loaded", "ready", "unavailable"]
    backend: str | None = None
    weights: str | None = None
    problem: str | None = Field(None, description="Why it is unavailable: the missing file and the fix.")
    runs: str | None = Field(None, description="The file that runs (a derived one from models/<version>/.derived/, "
                                               "or the weights), once loaded.")
    why: str | None = Field(None, description="Why that file runs (what it was derived with and checked on).")
    device: str | None = Field(None, description="The execution provider (ONNX) or torch device in use.")
    fallback: str | None = Field(None, description="Why the provider asked for (KOKORO_PROVIDERS) is not in use.")
    derivation: str | None = Field(None, description="What the background derivation of a faster file is doing.")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]


class AudioModelList(BaseModel):
    """The shape Open WebUI reads from ``GET /v1/audio/models``."""

    models: list[ModelObject]


def sse_event(payload: dict[str, Any]) -> bytes:
    """One server-sent event carrying ``payload`` as JSON, named after its ``type``."""
    return f"event: {payload['type']}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()
