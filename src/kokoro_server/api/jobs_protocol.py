"""Wire schemas of the jobs API (``/v1/audio/jobs``): the request fields and the job object."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kokoro_server.api.protocol import kokoro_voice
from kokoro_server.jobs.model import JobOptions, JobRequest, JobView, SpeechFields
from kokoro_server.service import MAX_SPEED, MIN_SPEED
from kokoro_server.text.normalize import DEFAULT_OPTIONS, NormalizationOptions

JOBS_PATH = "/v1/audio/jobs"
JobFormat = Literal["m4b", "mp3", "opus", "aac", "flac", "wav", "pcm"]
InputFormat = Literal["epub", "markdown", "html", "text"]


class JobFields(BaseModel):
    """The speech fields and job options: JSON fields, or form fields beside the uploaded ``file``."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field("kokoro", description="As for /v1/audio/speech: kokoro, kokoro-v1_0, kokoro-v0_19, tts-1...")
    voice: str | None = Field(None, description="A voice or mix (af_heart, bf_emma(2)+bf_isabella(1)) or an OpenAI "
                                                "voice name; default: a voice of the book's language (its metadata).")
    speed: float = Field(1.0, ge=MIN_SPEED, le=MAX_SPEED)
    lang_code: str | None = Field(None, description="One-letter Kokoro language code; default: from the voice, or "
                                                    "the book's language.")
    normalization_options: NormalizationOptions = DEFAULT_OPTIONS
    markup: bool = Field(False, description="Read Kokoro's inline markup ([pause:1s] ...) in the text; books are "
                                            "read literally by default.")
    format: JobFormat = Field("m4b", description="m4b: one audiobook with chapter marks, metadata and cover; any "
                                                 "response format: one file per chapter (the result is a zip).")
    chapters: str | None = Field(None, max_length=1000, description="Which chapters to read, by number in the "
                                                                    "book's chapter list: 1-3,5. Default: all "
                                                                    "but the front and back matter.")
    front_matter: bool = Field(False, description="Also read the front matter (title page, contents, dedication...).")
    back_matter: bool = Field(False, description="Also read the back matter (acknowledgements, index, about the "
                                                 "author...).")
    image_alt: bool = Field(False, description="Read images' alt text.")
    normalize_loudness: bool = Field(True, description="One gain for the book to KOKORO_JOB_LOUDNESS_LUFS, peaks "
                                                       "at most -3.5 dBFS (ACX-like levels).")
    title: str | None = Field(None, max_length=500, description="Instead of the book's own title.")
    author: str | None = Field(None, max_length=500, description="Instead of the book's own author.")
    input_format: InputFormat | None = Field(None, description="The book's format; default: from the file name "
                                                               "or its content (JSON input: text).")

    def to_request(self) -> JobRequest:
        voice = kokoro_voice(self.voice) if self.voice else None
        speech = SpeechFields(voice=voice, model=self.model, speed=self.speed, lang=self.lang_code or None,
                              normalization=asdict(self.normalization_options), markup=self.markup)
        options = JobOptions(format=self.format, chapters=self.chapters, front_matter=self.front_matter,
                             back_matter=self.back_matter, image_alt=self.image_alt,
                             normalize_loudness=self.normalize_loudness, title=self.title, author=self.author)
        return JobRequest(speech, options)


class JobBody(JobFields):
    """``POST /v1/audio/jobs`` with JSON: the book's text in ``input``."""

    input: str = Field(..., description="The book: plain text (chapters at 'Chapter N' headings), Markdown "
                                        "(input_format markdown) or HTML (input_format html).")


class ChapterObject(BaseModel):
    number: int
    title: str
    kind: Literal["front", "body", "back"]
    status: Literal["queued", "running", "completed", "skipped"]
    chars: int
    chars_done: int
    audio_seconds: float


class Progress(BaseModel):
    chars: int = Field(description="Characters to read in the chosen chapters.")
    chars_done: int
    fraction: float
    audio_seconds: float = Field(description="Audio made so far.")
    seconds_left: float | None = Field(description="Estimate while running, from this run's pace.")


class JobError(BaseModel):
    message: str


class JobObject(BaseModel):
    id: str
    object: Literal["audio.job"] = "audio.job"
    status: Literal["queued", "running", "completed", "failed", "cancelled"]
    phase: str | None = Field(description="While running: synthesizing or assembling.")
    created_at: int
    started_at: int | None
    finished_at: int | None
    expires_at: int | None = Field(description="When a finished job and its files are deleted (KOKORO_JOB_TTL_S).")
    title: str | None
    author: str | None
    language: str | None = Field(description="The book's language, from its metadata.")
    voice: str
    lang_code: str
    format: str
    source: dict[str, str | None]
    origin: str = Field(description="api, or cli (made by `kokoro-server book`).")
    progress: Progress
    chapters: list[ChapterObject]
    captions: bool = Field(description="Word timings are kept: captions can be had (format srt, vtt, json).")
    cover: bool
    disk_bytes: int
    levels: dict[str, float | None] | None = Field(description="Once complete: loudness_lufs, rms_dbfs, peak_dbfs, "
                                                               "gain_db of the finished audio.")
    error: JobError | None
    result_url: str | None = Field(description="Once complete: the audiobook (m4b) or the zip of chapter files.")

    @classmethod
    def of(cls, view: JobView) -> JobObject:
        def at(value: float | None) -> int | None:
            return None if value is None else int(value)

        return cls(id=view.id, status=view.status, phase=view.phase, created_at=int(view.created_at),
                   started_at=at(view.started_at), finished_at=at(view.finished_at), expires_at=at(view.expires_at),
                   title=view.title, author=view.author, language=view.language, voice=view.voice,
                   lang_code=view.lang, format=view.request.options.format,
                   source={"name": view.source_name, "format": view.source_format}, origin=view.origin,
                   progress=Progress(chars=view.chars, chars_done=view.chars_done,
                                     fraction=round(view.chars_done / view.chars, 4) if view.chars else 0.0,
                                     audio_seconds=view.audio_seconds, seconds_left=view.seconds_left),
                   chapters=[ChapterObject(number=c.number, title=c.title, kind=c.kind,  # type: ignore[arg-type]
                                           status=c.status, chars=c.chars, chars_done=c.chars_done,
                                           audio_seconds=round(c.audio_seconds, 3)) for c in view.chapters],
                   captions=view.has_words, cover=view.has_cover, disk_bytes=view.disk_bytes, levels=view.levels,
                   error=JobError(message=view.error) if view.error and view.status in ("failed", "cancelled") else None,
                   result_url=f"{JOBS_PATH}/{view.id}/result" if view.status == "completed" else None)


class JobList(BaseModel):
    object: Literal["list"] = "list"
    data: list[JobObject]
    disk: dict[str, int] = Field(description="used_bytes: what all jobs hold; limit_bytes: KOKORO_JOB_MAX_DISK_BYTES "
                                             "(0: none); free_bytes: free space in the data dir.")


class DeletedJob(BaseModel):
    id: str
    object: Literal["audio.job"] = "audio.job"
    deleted: bool = True


class PreviewChapter(BaseModel):
    number: int
    title: str
    kind: Literal["front", "body", "back"]
    chars: int
    selected: bool = Field(description="Read with the options given (chapters, front_matter, back_matter).")
    opening: str = Field(description="The chapter's first words.")


class BookPreview(BaseModel):
    """What a job would read: the book as parsed, without making a job."""

    object: Literal["audio.book"] = "audio.book"
    title: str | None
    author: str | None
    language: str | None
    format: str
    voice: str
    lang_code: str
    cover: bool
    captions: bool
    chars: int = Field(description="Characters in the selected chapters.")
    estimated_audio_seconds: float
    chapters: list[PreviewChapter]
