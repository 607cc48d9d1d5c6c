"""Making jobs: read the book, choose the voice, check everything that can be wrong, record the job.

Used by the HTTP API and by ``kokoro-server book`` alike. Every problem with the input (an unreadable
or encrypted book, no text, a bad chapter selection, an unknown voice, too little disk) is raised
here as a :class:`~kokoro_server.errors.KokoroError` (a 4xx) before any job exists.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from kokoro_server import SAMPLE_RATE
from kokoro_server.audio.encoders import get_format
from kokoro_server.budget import estimate
from kokoro_server.errors import InputTooLongError, InvalidInputError
from kokoro_server.jobs import audiobook
from kokoro_server.jobs.books import Book, ReadOptions, format_for, read_book
from kokoro_server.jobs.model import BOOK_FORMAT, JobRequest, SpeechFields
from kokoro_server.jobs.speaker import Speaker, choose_voice
from kokoro_server.jobs.store import JobStore, parse_selection
from kokoro_server.service import SpeechService
from kokoro_server.settings import Settings
from kokoro_server.text.markup import parse

BYTES_PER_SECOND = SAMPLE_RATE * 2 + 16_000  # the chunks' 16-bit audio and the outputs made from them


@dataclass(frozen=True)
class Prepared:
    """A book read and checked, ready to become a job (or to be shown, for the preview)."""

    book: Book
    request: JobRequest
    voice: str  # the voice (or mix) that will speak, as resolved
    lang: str
    selected: set[int]
    timed: bool  # the model gives word timings: captions will be made
    notice: str | None
    seconds: float  # the audio the chosen chapters will make (budget.estimate, pauses counted), silences included

    @property
    def chars(self) -> int:
        return sum(len(c.text) for n, c in enumerate(self.book.chapters, 1) if n in self.selected)

    def estimated_bytes(self) -> int:
        return int(self.seconds * BYTES_PER_SECOND)


class JobService:
    def __init__(self, settings: Settings, service: SpeechService, store: JobStore) -> None:
        self.settings = settings
        self.service = service
        self.store = store

    def prepare(self, path: Path, name: str, request: JobRequest, declared_format: str | None = None) -> Prepared:
        """Read the book in ``path`` and check the request against it (runs in a worker thread)."""
        options = request.options
        if options.format != BOOK_FORMAT:
            get_format(options.format)  # an unknown format is a 400 now
        with path.open("rb") as handle:
            head = handle.read(4096)
        fmt = format_for(name, head, declared_format)
        book = read_book(path, fmt, ReadOptions(image_alt=options.image_alt,
                                                max_unpacked_bytes=self.settings.job_max_unpacked_bytes, name=name))
        if book.chars > self.settings.job_max_chars:
            raise InputTooLongError(f"the book has {book.chars} characters; the limit is "
                                    f"{self.settings.job_max_chars} (KOKORO_JOB_MAX_CHARS)", param="file")
        selected = self._selection(book, request)
        voice, lang = choose_voice(self.service, request.speech, book.language)
        prepared = Speaker(self.service, request.speech, voice, lang).check()
        resolved = prepared.voice.canonical
        if prepared.build.version != self.settings.default_model:
            resolved = self.service.voice_id(prepared.build, resolved)
        timed = Speaker(self.service, request.speech, resolved, prepared.lang).timed()
        return Prepared(book, request, resolved, prepared.lang, selected, timed, prepared.notice,
                        audio_seconds(book, selected, request.speech))

    def _selection(self, book: Book, request: JobRequest) -> set[int]:
        options = request.options
        count = len(book.chapters)
        if options.chapters:
            chosen = parse_selection(options.chapters, count)
        else:
            chosen = {n for n, c in enumerate(book.chapters, 1) if c.kind == "body"
                      or (c.kind == "front" and options.front_matter) or (c.kind == "back" and options.back_matter)}
            if not chosen:  # only matter: read it rather than nothing
                chosen = set(range(1, count + 1))
        if not any(book.chapters[n - 1].text.strip() for n in chosen):
            raise InvalidInputError("the chapters chosen have no text to read", param="chapters")
        return chosen

    def create(self, prepared: Prepared, *, origin: str = "api", fingerprint: str | None = None,
               source_name: str | None = None) -> str:
        self.store.check_room(prepared.estimated_bytes())
        return self.store.create(prepared.book, prepared.request, voice=prepared.voice, lang=prepared.lang,
                                 selected=prepared.selected, origin=origin, fingerprint=fingerprint,
                                 source_name=source_name, speed=prepared.request.speech.speed)


def audio_seconds(book: Book, selected: set[int], speech: SpeechFields) -> float:
    """What the chosen chapters will last: each estimated as a speech request's audio is (``budget.estimate``,
    the markup's pauses exactly when markup is on), with the silence around each chapter. Bounds the
    job's disk before it exists (KOKORO_JOB_MAX_DISK_BYTES), since no per-request budget caps a job."""
    total = 0.0
    for number in selected:
        document = parse(book.chapters[number - 1].text, markup=speech.markup, input_format="text")
        total += estimate(document.segments, speech.speed).seconds + audiobook.HEAD_SECONDS + audiobook.TAIL_SECONDS
    return total


def fingerprint(path: Path, request: JobRequest) -> str:
    """The same file with the same request: the same job (the CLI resumes it)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    digest.update(request.to_json().encode())
    return digest.hexdigest()
