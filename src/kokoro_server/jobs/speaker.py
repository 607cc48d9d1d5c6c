"""The one door from book jobs to speech: a job chunk's text in, its audio and word times out.

Everything a job needs from the speech service goes through :class:`Speaker` (``prepare`` and
``stream`` of :class:`~kokoro_server.service.SpeechService`), so the job runner does not depend on
how a live request is served. Chunks are spoken with a plan that makes each one a single model call
(a job chunk is at most ``plan.CHUNK_CHARS`` characters), and the stream's own edge-silence margins.

Why not a :class:`~kokoro_server.serving.session.SpeechSession`: what a session adds to the service is
what an HTTP answer needs (live admission with its queue and 429, an encoder and its volume, download
and spool sinks, kept captions); a book chunk is background work that must never queue as a live
request (its slot is the runner's ``background_turn``), is kept as raw 16-bit samples with its loudness,
and is assembled into files later. The parts that are the same are shared: the front end and the
engine (``SpeechService.prepare``/``stream``, the language packs through them), the word clock
(:class:`~kokoro_server.timestamps.StreamClock`) and the runner's slots. A chunk is not held to the
per-request budget (``SpeechRequest.budgeted=False``): the job's own limits bound it (its estimated
audio against ``KOKORO_JOB_MAX_DISK_BYTES``, ``KOKORO_JOB_MAX_CHARS``; one chunk is at most 300
characters, so its memory is bounded too).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from kokoro_server.builds import Build, get_build, resolve_model_name
from kokoro_server.errors import InvalidInputError, KokoroError
from kokoro_server.jobs.model import SpeechFields
from kokoro_server.languages import LANGUAGES
from kokoro_server.service import PreparedSpeech, SpeechRequest, SpeechService
from kokoro_server.text.chunk import ChunkPlan
from kokoro_server.text.normalize import NormalizationOptions
from kokoro_server.timestamps import StreamClock

BOOK_PLAN = ChunkPlan(first_tokens=400, growth=1.0, target_tokens=400, max_tokens=500)
# A well-rated voice per language (hexgrad's VOICES.md grades), used when a book's language picks the voice.
LANGUAGE_VOICES = {"a": "af_heart", "b": "bf_emma", "e": "ef_dora", "f": "ff_siwis", "h": "hf_alpha",
                   "i": "if_sara", "j": "jf_alpha", "p": "pf_dora", "z": "zf_xiaobei"}
CHECK_TEXT = "Hello."
BOOK_TAG_ALIASES = {"en-uk": "en-gb"}  # not BCP-47, but found in EPUBs' dc:language


@dataclass(frozen=True)
class Spoken:
    audio: np.ndarray  # float32 24 kHz: the chunk's speech, edge silence cut to the stream's margins
    words: list[list[object]] | None  # [word, start_s, end_s, char_start, char_end] in the text given; None: no timings


class Speaker:
    def __init__(self, service: SpeechService, fields: SpeechFields, voice: str | None, lang: str | None) -> None:
        self._service = service
        self._fields = fields
        self.voice = voice
        self.lang = lang

    def request(self, text: str) -> SpeechRequest:
        return SpeechRequest(text=text, voice=self.voice, model=self._fields.model, speed=self._fields.speed,
                             lang=self.lang, normalization=NormalizationOptions(**self._fields.normalization),
                             chunk_plan=BOOK_PLAN, markup=self._fields.markup, input_format="text", budgeted=False)

    def check(self) -> PreparedSpeech:
        """Everything that can be wrong with the voice, model, language or speed, as a 4xx, now."""
        return self._service.prepare(self.request(CHECK_TEXT))

    def hold(self, workers: int) -> ExitStack:
        """Held (closed when done) while a job runs with ``workers`` at once: to the engine each worker
        is one long stream (as a streamed request is between its chunks), so the workers share the
        cores as streams do instead of each chunk taking every core whenever it is briefly alone.
        Keeps the model loaded. Blocks while the model loads: call it from a worker thread."""
        version = self.check().build.version
        stack = ExitStack()
        try:
            model = stack.enter_context(self._service.models.hold(version))
            for _ in range(workers if workers > 1 else 0):
                stack.enter_context(model.backend.streaming())
        except BaseException:
            stack.close()
            raise
        return stack

    def timed(self) -> bool:
        """Whether the model gives word timings (captions)."""
        prepared = self.check()
        try:
            self._service.require_timestamps(prepared)
        except KokoroError:
            return False
        return True

    def speak(self, text: str) -> Spoken:
        """The chunk's audio; an empty one if it has nothing to speak after normalization."""
        try:
            prepared = self._service.prepare(self.request(text))
        except InvalidInputError as exc:
            if exc.param == "input" and "nothing to speak" in exc.message:
                return Spoken(np.zeros(0, dtype=np.float32), [])
            raise
        clock = StreamClock()
        parts: list[np.ndarray] = []
        words: list[list[object]] | None = []
        try:
            for chunk in self._service.stream(prepared):
                heard = clock.words(chunk)
                if heard is None:
                    words = None
                elif words is not None:
                    words.extend([w.word, w.start_time, w.end_time, w.char_start, w.char_end] for w in heard)
                parts.append(chunk.audio)
        except InvalidInputError as exc:
            if exc.param == "input" and "no speakable text" in exc.message:
                return Spoken(np.zeros(0, dtype=np.float32), [])
            raise
        audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        return Spoken(audio, words)


def language_code(build: Build, tag: str | None) -> str | None:
    """The build's language for a book's language tag (``en-GB`` -> ``b``, ``fr`` -> ``f``), if it reads
    it offline: the language packs' registry decides (``LANGUAGES.find``)."""
    if not tag:
        return None
    tag = BOOK_TAG_ALIASES.get(tag.strip().lower().replace("_", "-"), tag)
    pack = LANGUAGES.find(tag)
    if pack is None or pack.code not in build.languages or not build.languages[pack.code].supported:
        return None
    return pack.code


def choose_voice(service: SpeechService, fields: SpeechFields, book_language: str | None) -> tuple[str | None, str | None]:
    """The voice and language code to speak a book with: the request's voice (its language, or the
    request's); else a voice of the book's language (the default voice when it speaks it)."""
    if fields.voice:
        return fields.voice, fields.lang
    build = resolve_model_name(fields.model, service.settings.default_model) if fields.model else \
        get_build(service.settings.default_model)
    default = service.default_voice_name(build)
    code = fields.lang or language_code(build, book_language)
    if code is None or default.startswith(code):
        return None, fields.lang  # the default voice, as for any speech request
    preferred = LANGUAGE_VOICES.get(code)
    if preferred and service.voices.has(build, preferred):
        return preferred, code
    voices = sorted((v for v in service.voices.list(build) if v.language == code and v.supported),
                    key=lambda v: (v.gender != "female", v.name))
    return (voices[0].name, code) if voices else (None, code)
