"""The job's data: what was asked (speech fields and options), and what the store reports back."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

JobStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
ChapterStatus = Literal["queued", "running", "completed", "skipped"]
TERMINAL: tuple[JobStatus, ...] = ("completed", "failed", "cancelled")
BOOK_FORMAT = "m4b"  # one audiobook file with chapter marks; any response format gives chapter files instead
CAPTION_FORMATS = ("srt", "vtt", "json")


@dataclass(frozen=True)
class SpeechFields:
    """The speech request's fields, as in ``POST /v1/audio/speech``."""

    voice: str | None = None  # None: the default voice of the book's language
    model: str | None = None
    speed: float = 1.0
    lang: str | None = None  # None: from the voice (or the book's language when no voice is named)
    normalization: dict[str, Any] = field(default_factory=dict)  # NormalizationOptions' fields
    markup: bool = False  # books are not written in Kokoro's markup: brackets are read as written


@dataclass(frozen=True)
class JobOptions:
    format: str = BOOK_FORMAT  # m4b, or a response format (mp3, opus, aac, flac, wav, pcm): chapter files
    chapters: str | None = None  # "1-3,5": which chapters (numbers of the book's chapter list); None: all body
    front_matter: bool = False  # also read the front matter (cover, title page, contents, dedication...)
    back_matter: bool = False  # also read the back matter (acknowledgements, index, about the author...)
    image_alt: bool = False  # read images' alt text
    normalize_loudness: bool = True  # one gain for the book to ACX-like levels
    title: str | None = None  # instead of the book's own
    author: str | None = None


@dataclass(frozen=True)
class JobRequest:
    speech: SpeechFields = field(default_factory=SpeechFields)
    options: JobOptions = field(default_factory=JobOptions)

    def to_json(self) -> str:
        return json.dumps({"speech": asdict(self.speech), "options": asdict(self.options)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobRequest:
        data = json.loads(text)
        return cls(SpeechFields(**_known(SpeechFields, data.get("speech", {}))),
                   JobOptions(**_known(JobOptions, data.get("options", {}))))


def _known(kind: type, values: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(kind)}
    return {k: v for k, v in values.items() if k in names}


@dataclass(frozen=True)
class ChapterView:
    number: int
    title: str
    kind: str  # front, body, back
    status: ChapterStatus
    chars: int
    chars_done: int
    chunks: int
    chunks_done: int
    audio_seconds: float  # synthesized so far (speech and the pauses inside it)


@dataclass(frozen=True)
class JobView:
    id: str
    status: JobStatus
    origin: str  # api or cli
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    title: str | None
    author: str | None
    language: str | None
    voice: str
    lang: str
    source_name: str | None
    source_format: str
    request: JobRequest
    error: str | None
    phase: str | None  # while running: synthesizing or assembling
    chapters: tuple[ChapterView, ...]
    chars: int
    chars_done: int
    audio_seconds: float
    seconds_left: float | None  # estimate while running
    disk_bytes: int
    has_cover: bool
    has_words: bool  # word timings (captions) are available
    expires_at: float | None
    levels: dict[str, float | None] | None = None  # once complete: loudness_lufs, rms_dbfs, peak_dbfs, gain_db

    @property
    def selected(self) -> tuple[ChapterView, ...]:
        return tuple(c for c in self.chapters if c.status != "skipped")
