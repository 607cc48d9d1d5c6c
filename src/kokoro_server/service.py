"""Text in, audio out: the one place that turns a speech request into audio chunks.

Used by the CLI and the HTTP API alike. ``prepare`` validates everything that can fail before any
audio is produced (model, voice, language, speed, text), so a server can answer 4xx instead of
breaking a stream; ``stream`` then yields audio chunk by chunk as the engine produces it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from kokoro_server import SAMPLE_RATE
from kokoro_server.builds import BUILDS, Build, get_build, resolve_model_name
from kokoro_server.builds.base import MAX_TOKENS, Phonemizer
from kokoro_server.datadir import DataDir
from kokoro_server.engine.models import ModelManager
from kokoro_server.errors import InputTooLongError, InvalidInputError, TimestampsUnavailableError, VoiceNotFoundError
from kokoro_server.settings import Settings
from kokoro_server.text.chunk import Chunk, ChunkPlan, Chunker
from kokoro_server.text.document import Document, Text, plain
from kokoro_server.text.normalize import DEFAULT_OPTIONS, NormalizationOptions, normalize
from kokoro_server.voices.library import VoiceLibrary
from kokoro_server.voices.mix import VoiceMix, parse_mix

MIN_SPEED, MAX_SPEED = 0.25, 4.0
ENGLISH = ("a", "b")


@dataclass(frozen=True)
class SpeechRequest:
    text: str
    voice: str | None = None
    model: str | None = None  # a model name or version; None = the default (or routed by voice)
    speed: float = 1.0
    lang: str | None = None  # one-letter Kokoro language code; None = from the voice name
    normalization: NormalizationOptions = DEFAULT_OPTIONS
    chunk_plan: ChunkPlan = field(default_factory=ChunkPlan)


@dataclass(frozen=True)
class PreparedSpeech:
    build: Build
    voice: VoiceMix
    pack: np.ndarray
    lang: str
    speed: float
    text: str  # normalized (the text segments of the document, joined)
    chunk_plan: ChunkPlan
    document: Document  # the input's segments, text segments normalized
    notice: str | None = None  # something the user should know (e.g. a fallback voice was used)


@dataclass(frozen=True)
class AudioChunk:
    audio: np.ndarray  # float32 mono 24 kHz, with the pause that follows this chunk
    chunk: Chunk
    durations: np.ndarray | None = None  # frames per model input (pads included), if the backend gives them

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


class SpeechService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = DataDir(settings.data_dir)
        self.models = ModelManager(settings, self.data_dir)
        self.voices = VoiceLibrary(self.data_dir)

    # -- routing ---------------------------------------------------------------------------
    def route(self, model: str | None, voice: VoiceMix) -> Build:
        """The build for a request: the named model; else the default, unless only another version
        has the voice(s) and that version is usable (weights present), e.g. v0.19's ``af_irulan``."""
        if model:
            return resolve_model_name(model, self.settings.default_model)
        default = get_build(self.settings.default_model)
        names = [name for name, _ in voice.parts]
        if all(self.voices.has(default, n) for n in names):
            return default
        holders = [b for b in BUILDS.values() if b is not default and all(self.voices.has(b, n) for n in names)]
        for build in holders:
            if self.models.usable(build):
                return build
        missing = next(n for n in names if not self.voices.has(default, n))
        if holders:
            build = holders[0]
            problem = self.models.status(build).problem
            message = (f"voice {voice.canonical!r} is a {build.title} voice, but {build.version} cannot run "
                       f"here: {problem}")
            raise VoiceNotFoundError(message + self._equivalents(default, voice), param="voice")
        error = self.voices.not_found(default, missing)
        raise VoiceNotFoundError(error.message + self._equivalents(default, voice), param="voice")

    def _equivalents(self, build: Build, voice: VoiceMix) -> str:
        """A hint naming ``build``'s copies of other versions' voices (v1.0 ships ``af_v0irulan``)."""
        renamed = {}
        for name, _ in voice.parts:
            if self.voices.has(build, name):
                continue
            for other in BUILDS.values():
                later = other.later_voice_name(name) if other.later_voice_name and other is not build else None
                if later and self.voices.has(build, later):
                    renamed[name] = later
                    break
        if not renamed:
            return ""
        spec = VoiceMix(tuple((renamed.get(name, name), weight) for name, weight in voice.parts)).canonical
        pairs = ", ".join(f"{old} -> {new}" for old, new in renamed.items())
        return f". {build.title} equivalent: {pairs}; use voice={spec!r} (model {build.version})"

    def _default_voice(self, model: str | None) -> tuple[VoiceMix, Build, str, str | None]:
        """No voice asked for: the default voice of the (named or default) model's version.

        On a fresh install without it, the voice the build embeds from PyPI, spoken through the
        default voice's language front end; the returned notice says so.
        """
        build = resolve_model_name(model, self.settings.default_model) if model else \
            get_build(self.settings.default_model)
        name = self.settings.default_voice if build.version == self.settings.default_model else build.default_voice
        default = parse_mix(name)
        if all(self.voices.has(build, n) for n, _ in default.parts):
            return default, build, name[:1], None
        embedded = build.embedded_voices
        if embedded is None or not self.voices.has(build, embedded.fallback):
            raise self.voices.not_found(build, name)
        notice = (f"default voice {name!r} is not installed; speaking with the embedded voice "
                  f"{embedded.fallback!r} (install more: kokoro-server download -m {build.version} --voices {name})")
        return parse_mix(embedded.fallback), build, name[:1], notice

    def prepare(self, request: SpeechRequest) -> PreparedSpeech:
        if not (MIN_SPEED <= request.speed <= MAX_SPEED):
            raise InvalidInputError(f"speed must be between {MIN_SPEED} and {MAX_SPEED}, got {request.speed}",
                                    param="speed")
        if not request.text or not request.text.strip():
            raise InvalidInputError("input text is empty", param="input")
        if len(request.text) > self.settings.max_input_chars:
            raise InputTooLongError(f"input is {len(request.text)} characters; the limit is "
                                    f"{self.settings.max_input_chars} (KOKORO_MAX_INPUT_CHARS)", param="input")
        if request.voice:
            mix = parse_mix(request.voice)
            build = self.route(request.model, mix)
            lang, notice = mix.parts[0][0][:1], None
        else:
            mix, build, lang, notice = self._default_voice(request.model)
        try:
            pack = self.voices.resolve(build, mix)
        except VoiceNotFoundError as exc:
            raise VoiceNotFoundError(exc.message + self._equivalents(build, mix), param="voice") from None
        lang = (request.lang or lang).lower()
        language = build.languages.get(lang)
        if language is None or not language.supported:
            supported = ", ".join(f"{code} ({l.name})" for code, l in build.languages.items() if l.supported)
            raise InvalidInputError(f"language {lang!r} is not supported offline by {build.version}; "
                                    f"supported: {supported}", param="lang_code")
        self.models.locate(build, assemble=False)  # missing weights fail here, before any audio
        options = request.normalization if lang in ENGLISH else NormalizationOptions(normalize=False)
        document = self.normalized(plain(request.text), options)
        text = " ".join(s.normalized.text for s in document.segments if isinstance(s, Text) and s.normalized)
        if not document.speakable():
            raise InvalidInputError("input has nothing to speak after normalization", param="input")
        return PreparedSpeech(build, mix, pack, lang, request.speed, text, request.chunk_plan, document, notice)

    @staticmethod
    def normalized(document: Document, options: NormalizationOptions) -> Document:
        """The document with each text segment's normalized reading (and where its words came from)."""
        segments = tuple(replace(s, normalized=normalize(s.text, options)) if isinstance(s, Text) else s
                         for s in document.segments)
        return replace(document, segments=segments)

    def phonemizer(self, prepared: PreparedSpeech) -> Phonemizer:
        return prepared.build.make_phonemizer(prepared.lang)

    # -- synthesis -------------------------------------------------------------------------
    def chunks(self, prepared: PreparedSpeech) -> Iterator[Chunk]:
        """The prepared input's chunks (text front end only), lazily."""
        chunker = Chunker(self.phonemizer(prepared), prepared.build.tokenize, prepared.chunk_plan)
        return chunker.chunks(prepared.document)

    def stream(self, prepared: PreparedSpeech) -> Iterator[AudioChunk]:
        """Audio chunk by chunk, in order. Nothing is synthesized until the consumer asks."""
        model = self.models.get(prepared.build.version)
        produced = False
        with model.backend.streaming():
            for chunk in self.chunks(prepared):
                tokens = chunk.tokens[:MAX_TOKENS]
                style = prepared.pack[prepared.build.style_row(len(tokens))]
                output = model.backend.synthesize(tokens, style, prepared.speed)
                audio = output.audio
                pause = int(round(chunk.silence_after(prepared.speed) * SAMPLE_RATE))
                if pause:
                    audio = np.concatenate([audio, np.zeros(pause, dtype=np.float32)])
                produced = True
                yield AudioChunk(audio, chunk, output.durations)
        if not produced:
            raise InvalidInputError("input has no speakable text (no phonemes)", param="input")

    def require_timestamps(self, prepared: PreparedSpeech, param: str = "timestamps") -> None:
        """Word timestamps need the model's durations: refuse before any audio if it cannot give them."""
        problem = self.models.get(prepared.build.version).backend.durations_problem
        if problem is not None:
            raise TimestampsUnavailableError(f"word timestamps are unavailable for {prepared.build.version}: "
                                             f"{problem}", param=param)

    def synthesize(self, request: SpeechRequest) -> np.ndarray:
        prepared = self.prepare(request)
        parts = [chunk.audio for chunk in self.stream(prepared)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def close(self) -> None:
        self.models.close()

