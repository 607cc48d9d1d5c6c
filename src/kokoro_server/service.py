"""Text in, audio out: the one place that turns a speech request into audio chunks.

Used by the CLI and the HTTP API alike (through :mod:`kokoro_server.serving.session`). ``prepare``
validates everything that can fail before any audio is produced (model, voice, language, speed, text,
the audio budget), so a server can answer 4xx instead of breaking a stream; ``stream`` then yields
audio chunk by chunk as the engine produces it.

One front end serves synthesis and ``phonemize``: clean, parse (markup, SSML or phonemes), lexicon,
check given phonemes (:meth:`SpeechService.read_input`); then, lazily while the audio streams,
normalize block by block and chunk (:meth:`SpeechService.chunks`). Nothing runs over a whole long input
before its first chunk but the parser and the budget's character count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from kokoro_server import SAMPLE_RATE
from kokoro_server.audio.silence import LEAD_MARGIN, TRAIL_MARGIN, speech_bounds
from kokoro_server.builds import BUILDS, Build, get_build, resolve_model_name, version_named
from kokoro_server.budget import AudioEstimate, check_budget, estimate
from kokoro_server.builds.base import MAX_TOKENS, Phonemizer
from kokoro_server.datadir import DataDir
from kokoro_server.engine.models import ModelManager
from kokoro_server.errors import (AudioTooLongError, InputTooLongError, InvalidInputError, InvalidVoiceSpecError,
                                  KokoroError, TimestampsUnavailableError, VoiceNotFoundError, quote)
from kokoro_server.languages import LANGUAGES, chunker, normalize, read_languages, resolve
from kokoro_server.settings import Settings
from kokoro_server.text.chunk import Chunk, ChunkPlan
from kokoro_server.text.clean import clean_input
from kokoro_server.text.blocks import blocks
from kokoro_server.text.document import Document, Phonemes, Segment, Stressed, Text, VoiceChange
from kokoro_server.text.lexicon import Lexicon, LexiconStore
from kokoro_server.text.markup import InputFormat, check_phonemes, parse
from kokoro_server.text.normalize import DEFAULT_OPTIONS, NormalizationOptions
from kokoro_server.voices.library import VoiceLibrary
from kokoro_server.voices.mix import VoiceMix, parse_mix

MIN_SPEED, MAX_SPEED = 0.25, 4.0
MIN_VOLUME, MAX_VOLUME = 0.0, 10.0  # the volume multiplier of the encoded audio
AUDIO_OVERRUN = 1.5  # a stream whose audio passes its budget by this factor (the estimate was wrong) is cut
VERSION_SEPARATOR = "/"  # a voice id of another version than the default: v0_19/af_bella


@dataclass(frozen=True)
class SpeechRequest:
    text: str
    voice: str | None = None
    model: str | None = None  # a model name or version; None = the default (or routed by voice)
    speed: float = 1.0
    lang: str | None = None  # one-letter Kokoro language code or BCP-47 tag; None = from the voice name
    normalization: NormalizationOptions = DEFAULT_OPTIONS
    chunk_plan: ChunkPlan = field(default_factory=ChunkPlan)
    markup: bool = True  # read inline markup ([pause:1s], [word](/phonemes/), [voice:name]); False: literal text
    input_format: InputFormat | None = None  # "ssml", "text"; None: SSML when the input starts with <speak>
    # False: a book job's chunk, bounded by the job's own limits (docs/books.md), not KOKORO_MAX_AUDIO_SECONDS
    # (KOKORO_MAX_PAUSE_SECONDS still holds for each chunk)
    budgeted: bool = True


@dataclass(frozen=True)
class PreparedSpeech:
    build: Build
    voice: VoiceMix
    pack: np.ndarray
    lang: str
    speed: float
    chunk_plan: ChunkPlan
    document: Document  # the input's segments (text segments are normalized lazily, see SpeechService.chunks)
    estimate: AudioEstimate  # the audio it will make, decided before any is made
    notice: str | None = None  # something the user should know (e.g. a fallback voice was used)
    packs: Mapping[str, np.ndarray] = field(default_factory=dict)  # voices the markup switches to
    normalization: NormalizationOptions = DEFAULT_OPTIONS
    # text streamed in (serving/live_speech.py): the chunks come from the caller, not from ``document``
    chunk_source: Callable[[], Iterator[Chunk]] | None = None
    budgeted: bool = True  # held to KOKORO_MAX_AUDIO_SECONDS (see SpeechRequest.budgeted)

    @property
    def source(self) -> str:
        """The request input as received."""
        return self.document.source

    @cached_property
    def text(self) -> str:
        """The text segments as normalized, joined (normalizes all of the input: for tools and tests)."""
        return " ".join(s.normalized.text for s in normalized_segments(self.document, self.normalization, self.lang)
                        if isinstance(s, Text) and s.normalized)

    def pack_for(self, chunk: Chunk) -> np.ndarray:
        return self.packs[chunk.voice] if chunk.voice else self.pack

    def speed_for(self, chunk: Chunk) -> float:
        return min(max(self.speed * chunk.rate, MIN_SPEED), MAX_SPEED)


@dataclass(frozen=True)
class AudioChunk:
    audio: np.ndarray  # float32 mono 24 kHz, with the pause that follows this chunk
    chunk: Chunk
    durations: np.ndarray | None = None  # frames per model input (pads included), if the backend gives them
    trimmed_lead: int = 0  # samples of the model's leading silence cut off (before a markup pause's end)

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


class SpeechService:
    def __init__(self, settings: Settings, *, derive_in_background: bool = False) -> None:
        """``derive_in_background``: a server's service (the CLI's one-shot commands derive nothing)."""
        self.settings = settings
        self.data_dir = DataDir(settings.data_dir)
        self.data_dir.sweep_temp_files()  # what a killed process left (start-up of the CLI and the server)
        self.models = ModelManager(settings, self.data_dir, derive_in_background=derive_in_background)
        self.voices = VoiceLibrary(self.data_dir)
        self.lexicons = LexiconStore(self.data_dir.root / "lexicon")

    # -- voice ids and routing -------------------------------------------------------------
    def voice_id(self, build: Build, name: str) -> str:
        """A voice's id in lists: its name for the default version, ``<version>/<name>`` for another
        (``v0_19/af_bella``), so ids are unique across versions and each selects its own version."""
        return name if build.version == self.settings.default_model else f"{build.version}{VERSION_SEPARATOR}{name}"

    def parse_voice(self, spec: str, model: str | None) -> tuple[VoiceMix, Build]:
        """The mix a voice spec names and the build that speaks it. Names may carry their version as
        the voice list's ids do (``v0_19/af_bella``, ``v0_19/af_bella(2)+v0_19/af_sky(1)``); names
        without one are routed by :meth:`route`."""
        versions: set[str] = set()
        pieces = []
        for piece in spec.split("+"):
            version, separator, name = piece.strip().rpartition(VERSION_SEPARATOR)
            if separator:
                if version not in BUILDS:
                    raise InvalidVoiceSpecError(f"voice {quote(piece.strip())} names an unknown model version "
                                                f"{quote(version)}; known versions: {', '.join(BUILDS)}", param="voice")
                versions.add(version)
            pieces.append(name)
        mix = parse_mix("+".join(pieces))
        if not versions:
            return mix, self.route(model, mix)
        if len(versions) > 1:
            raise InvalidVoiceSpecError(f"voice mix {quote(spec)} mixes voices of versions {', '.join(sorted(versions))}; "
                                        "a mix takes the voices of one version", param="voice")
        build = BUILDS[versions.pop()]
        if model:  # the default model's names (kokoro, tts-1, ...) leave the choice to the voice's prefix
            resolve_model_name(model, self.settings.default_model)  # an unknown name is still a 404
            named = version_named(model)
            if named is not None and named != build.version:
                raise InvalidVoiceSpecError(f"voice {quote(spec)} is a {build.version} voice, but model {quote(model)} is "
                                            f"{named}; name model {build.model_names[0]!r} or a default name "
                                            "such as 'kokoro'", param="voice")
        return mix, build

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

    def default_voice_name(self, build: Build) -> str:
        return self.settings.default_voice if build.version == self.settings.default_model else build.default_voice

    def _default_voice(self, build: Build) -> tuple[VoiceMix, str, str | None]:
        """No voice asked for: the default voice of the (named or default) model's version.

        On a fresh install without it, the voice the build embeds from PyPI, spoken through the
        default voice's language front end; the returned notice says so.
        """
        name = self.default_voice_name(build)
        default = parse_mix(name)
        if all(self.voices.has(build, n) for n, _ in default.parts):
            return default, _voice_language(name), None
        embedded = build.embedded_voices
        if embedded is None or not self.voices.has(build, embedded.fallback):
            raise self.voices.not_found(build, name)
        notice = (f"default voice {name!r} is not installed; speaking with the embedded voice "
                  f"{embedded.fallback!r} (install more: kokoro-server download -m {build.version} --voices {name})")
        return parse_mix(embedded.fallback), _voice_language(name), notice

    def read_input(self, text: str, build: Build, lang: str, *, markup: bool = True,
                   input_format: InputFormat | None = None, param: str = "input", pinned: bool = True) -> Document:
        """The front end up to normalization, the same for synthesis and ``phonemize``: the input
        checked (:meth:`check_text`), cleaned, parsed (markup, SSML or phonemes), each part's language
        read (``pinned``: ``lang`` was asked for, not taken from the voice), each part's lexicon entries
        applied, given phonemes checked against the model's set."""
        self.check_text(text, param)
        try:
            document = parse(clean_input(text), markup=markup, input_format=input_format)
            document = read_languages(document, lang, pinned=pinned, supported=build.languages)
            for code in document.languages:  # each part is read with its own language's lexicon
                document = self.lexicons.get(code, build.vocab, build.version).apply(document)
            check_phonemes(document, build.vocab)
        except KokoroError as exc:
            if exc.param == "input" and param != "input":
                exc.param = param
            raise
        return document

    def check_text(self, text: str, param: str = "input") -> None:
        """Not empty, not longer than KOKORO_MAX_INPUT_CHARS (413)."""
        if not text or not text.strip():
            raise InvalidInputError(f"{'input text' if param == 'input' else param} is empty", param=param)
        if len(text) > self.settings.max_input_chars:
            raise InputTooLongError(f"{param} is {len(text)} characters; the limit is "
                                    f"{self.settings.max_input_chars} (KOKORO_MAX_INPUT_CHARS)", param=param)

    def prepare(self, request: SpeechRequest) -> PreparedSpeech:
        if not (MIN_SPEED <= request.speed <= MAX_SPEED):
            raise InvalidInputError(f"speed must be between {MIN_SPEED} and {MAX_SPEED}, got {request.speed}",
                                    param="speed")
        self.check_text(request.text)  # before the voice: an empty or too long input is the first problem
        if request.voice:
            mix, build = self.parse_voice(request.voice, request.model)
            lang, notice = _voice_language(mix.parts[0][0]), None
            try:
                pack = self.voices.resolve(build, mix)
            except VoiceNotFoundError as exc:
                self.models.locate(build, assemble=False)  # missing weights are reported first
                raise VoiceNotFoundError(exc.message + self._equivalents(build, mix), param="voice") from None
        else:
            build = resolve_model_name(request.model, self.settings.default_model) if request.model else \
                get_build(self.settings.default_model)
            try:
                mix, lang, notice = self._default_voice(build)
            except VoiceNotFoundError:
                self.models.locate(build, assemble=False)  # missing weights are reported first
                raise
            pack = self.voices.resolve(build, mix)
        self.models.locate(build, assemble=False)  # missing weights fail here, before any audio
        lang = resolve(request.lang or lang, build.languages, build.version, "lang_code").code
        document = self.read_input(request.text, build, lang, markup=request.markup,
                                   input_format=request.input_format, pinned=request.lang is not None)
        packs = self._markup_voices(document, build)
        if not speakable(normalized_segments(document, request.normalization, lang)):
            raise InvalidInputError("input has nothing to speak after normalization", param="input")
        found = estimate(document.segments, request.speed)
        check_budget(found, max_audio_s=self.settings.max_audio_seconds if request.budgeted else 0,
                     max_pause_s=self.settings.max_pause_seconds)
        notices = "; ".join(n for n in (notice, *document.notices) if n) or None
        return PreparedSpeech(build, mix, pack, lang, request.speed, request.chunk_plan, document, found, notices,
                              packs, request.normalization, budgeted=request.budgeted)

    def _markup_voices(self, document: Document, build: Build) -> dict[str, np.ndarray]:
        """The pack of every voice the markup switches to: each must exist for the request's version."""
        packs = {}
        for segment in document.segments:
            if not isinstance(segment, VoiceChange) or not segment.voice or segment.voice in packs:
                continue
            where = f" (voice change at input characters {segment.start}-{segment.end})"
            try:
                packs[segment.voice] = self.voices.resolve(build, segment.voice)
            except KokoroError as exc:
                raise type(exc)(exc.message + where, param="input") from None
        return packs

    @staticmethod
    def normalized(document: Document, options: NormalizationOptions, lang: str = "a") -> Document:
        """The document with every text segment normalized at once (:func:`normalized_segments`, all of
        it): for a short input, such as one streamed phrase."""
        return replace(document, segments=tuple(normalized_segments(document, options, lang)))

    def phonemize(self, text: str, lang: str = "a", model: str | None = None) -> tuple[str, list[int]]:
        """Text (markup and lexicon read, normalized) -> its phonemes and token ids (with the pad token at
        both ends), as the model would get them; no voice or weights needed. The same front end as
        :meth:`prepare` and :meth:`chunks`."""
        build = resolve_model_name(model, self.settings.default_model) if model else \
            get_build(self.settings.default_model)
        lang = resolve(lang or "a", build.languages, build.version, "language").code
        document = self.read_input(text, build, lang, param="text")
        chunks = chunker(lambda code: self.phonemizer(build, code), build.tokenize, lang).chunks(
            document, segments=normalized_segments(document, DEFAULT_OPTIONS, lang))
        phonemes = " ".join(c.phonemes for c in chunks if c.tokens)
        return phonemes, [0, *build.tokenize(phonemes), 0]

    def lexicon_list(self) -> list[Lexicon]:
        """Every lexicon file of the data dir, loaded (and checked against the default version's phonemes)."""
        build = get_build(self.settings.default_model)
        return [self.lexicons.get(lang, build.vocab, build.version) for lang in self.lexicons.languages()]

    def phonemizer(self, build: Build, lang: str) -> Phonemizer:
        """The phonemizer this service reads language ``lang`` with for ``build`` (the one place chunking
        asks for one)."""
        return build.make_phonemizer(lang)

    # -- synthesis -------------------------------------------------------------------------
    def chunks(self, prepared: PreparedSpeech) -> Iterator[Chunk]:
        """The prepared input's chunks (text front end only), lazily: text is normalized a block at a
        time as the chunker reaches it (:func:`normalized_segments`)."""
        if prepared.chunk_source is not None:
            return prepared.chunk_source()
        build = prepared.build
        return chunker(lambda code: self.phonemizer(build, code), build.tokenize, prepared.lang,
                       prepared.chunk_plan).chunks(
            prepared.document, segments=normalized_segments(prepared.document, prepared.normalization, prepared.lang))

    def stream(self, prepared: PreparedSpeech) -> Iterator[AudioChunk]:
        """Audio chunk by chunk, in order. Nothing is synthesized until the consumer asks; the model
        stays loaded until the stream ends (KOKORO_MODEL_TTL_S counts from then)."""
        produced = previous_paused = False
        budget = self.settings.max_audio_seconds if prepared.budgeted else 0
        cap = int(max(budget, prepared.estimate.seconds) * AUDIO_OVERRUN * SAMPLE_RATE) if budget else None
        samples = 0
        with self.models.hold(prepared.build.version) as model, model.backend.streaming():
            for chunk in self.chunks(prepared):
                if cap is not None and samples > cap:
                    raise AudioTooLongError(
                        f"the audio passed {samples / SAMPLE_RATE:.0f} s, far over the {prepared.estimate.seconds:.0f} s "
                        f"estimated for this input (KOKORO_MAX_AUDIO_SECONDS={budget:g}); the rest is not spoken",
                        param="input")
                speed = prepared.speed_for(chunk)
                tokens = chunk.tokens[:MAX_TOKENS]
                durations = None
                if tokens:
                    style = prepared.pack_for(chunk)[prepared.build.style_row(len(tokens))]
                    output = model.backend.synthesize(tokens, style, speed)
                    audio, durations = output.audio, output.durations
                    produced = True
                else:  # a markup pause with nothing before it
                    audio = np.zeros(0, dtype=np.float32)
                # the model's edge silence is cut to a margin (none around a markup pause, which is
                # exactly that long); the boundary's pause follows
                start, end = speech_bounds(audio, lead=0 if previous_paused else LEAD_MARGIN,
                                           trail=0 if chunk.pause else TRAIL_MARGIN)
                audio = audio[start:end]
                previous_paused = bool(chunk.pause)
                pause = int(round(chunk.silence_after(speed) * SAMPLE_RATE))
                if pause:
                    audio = np.concatenate([audio, np.zeros(pause, dtype=np.float32)])
                samples += len(audio)
                yield AudioChunk(audio, chunk, durations, trimmed_lead=start)
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


def _voice_language(voice: str) -> str:
    """The language code of a voice (its name's first letter names its language pack)."""
    pack = LANGUAGES.of_voice(voice)
    return pack.code if pack is not None else voice[:1]


def normalized_segments(document: Document, options: NormalizationOptions, lang: str) -> Iterator[Segment]:
    """The document's segments with each text segment normalized in its own language (``lang`` where
    it has none), lazily: a long one as blocks of a few thousand characters
    (:func:`~kokoro_server.text.blocks.blocks`), each normalized when reached. A segment normalized
    already (:meth:`SpeechService.normalized`) is kept as it is."""
    for segment in document.segments:
        if isinstance(segment, Text) and segment.normalized is None:
            for block in blocks(segment):
                yield replace(block, normalized=normalize(block.text, options, block.lang or lang))
        else:
            yield segment


def speakable(segments: Iterator[Segment]) -> bool:
    """Whether anything is left to say, normalizing only as far as the first thing that is."""
    return any(isinstance(s, (Phonemes, Stressed)) or isinstance(s, Text) and s.normalized is not None
               and bool(s.normalized.text.strip()) for s in segments)
