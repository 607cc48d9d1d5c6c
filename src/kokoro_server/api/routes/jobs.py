"""``/v1/audio/jobs``: books (EPUB, Markdown, HTML, text) to audiobooks as durable jobs.

Create with a multipart upload (the book in ``file``, options as form fields) or JSON (``input``);
follow with ``GET /{id}`` or ``/{id}/events`` (server-sent events); fetch ``/{id}/result`` and
``/{id}/chapters/{n}`` (audio or captions, with HTTP Range); ``/{id}/cancel``, ``/{id}/resume``,
``DELETE /{id}``. ``POST /preview`` reads a book and shows what a job would read, without making one.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.types import Receive, Scope, Send

from kokoro_server import captions
from kokoro_server.api.jobs_protocol import (JOBS_PATH, BookPreview, DeletedJob, JobBody, JobFields, JobList,
                                             JobObject, PreviewChapter)
from kokoro_server.api.protocol import ErrorBody, sse_event
from kokoro_server.api.security import KEYED
from kokoro_server.api.state import Serving, serving
from kokoro_server.api.uploads import read_body, receive_upload
from kokoro_server.audio.encoders import get_format
from kokoro_server.errors import ConflictError, FileProblemError, InvalidInputError, NotFoundError
from kokoro_server.jobs import audiobook
from kokoro_server.jobs.model import BOOK_FORMAT, CAPTION_FORMATS, TERMINAL, JobView
from kokoro_server.jobs.service import Prepared
from kokoro_server.serving.jobs import JobsServing, SpoolFile

class JobIdConvertor(Convertor[str]):
    """A job id in a path (``job_`` and 16 hex digits): ``/v1/audio/jobs/preview`` is never taken for one."""

    regex = "job_[0-9a-f]{16}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("jobid", JobIdConvertor())
router = APIRouter(prefix=JOBS_PATH, tags=["jobs"], **KEYED)
ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 404, 409, 413, 424)}
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
KEEP_ALIVE_S = 15.0
LOOK_S = 2.0
EVENTS_MAX_S = 600.0  # a stream ends after this long (reconnect to go on): no request held for hours
OWN_BODY_LIMITS = frozenset({JOBS_PATH, f"{JOBS_PATH}/preview"})  # uploads: streamed and capped here
BOOK_MEDIA = {"m4b": "audio/mp4", "zip": "application/zip"}


def upload_body() -> dict[str, object]:
    """The request body in the OpenAPI document: a multipart upload, or JSON (:class:`JobBody`, inline;
    the schemas it names are in the document through /v1/audio/speech)."""
    json_schema = JobBody.model_json_schema(ref_template="#/components/schemas/{model}")
    json_schema.pop("$defs", None)
    form = {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "The book: .epub, .md, .html or .txt"},
        **{name: {"type": "string", "description": field.description or ""}
           for name, field in JobFields.model_fields.items()}}}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": form},
                                                          "application/json": {"schema": json_schema}}}}


UPLOAD_BODY = upload_body()


def jobs_of(state: Serving) -> JobsServing:
    jobs = getattr(state, "jobs", None)
    if jobs is None:
        raise FileProblemError("book jobs are unavailable: the data dir is not writable",
                               file=state.service.data_dir.jobs_dir, fix="set KOKORO_DATA_DIR to a writable folder")
    return jobs


async def read_request(request: Request, jobs: JobsServing) -> tuple[Prepared, str]:
    """The uploaded (or JSON) book, read and checked: 4xx for anything wrong with it."""
    settings = jobs.service.settings
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "multipart/form-data":
        upload = await receive_upload(request, jobs.spool, settings.job_max_upload_bytes)
        try:
            if upload.file is None or upload.size == 0:
                raise InvalidInputError("no book: send the file in the form field 'file'", param="file")
            fields = validated(JobFields, form_values(upload.fields))
            prepared = await run_in_threadpool(jobs.service.prepare, upload.file.path, upload.filename,
                                               fields.to_request(), fields.input_format)
            return prepared, upload.filename or "upload"
        finally:
            upload.discard()
    if media == "application/json" or media.endswith("+json"):
        raw = await read_body(request, min(settings.job_max_upload_bytes, settings.job_max_chars * 6 + 65536))
        body = validated(JobBody, raw)
        if not body.input.strip():
            raise InvalidInputError("input is empty", param="input")
        temp = jobs.spool()
        try:
            await run_in_threadpool(temp.file.write, body.input.encode("utf-8"))
            await run_in_threadpool(temp.file.flush)
            prepared = await run_in_threadpool(jobs.service.prepare, temp.path, "input", body.to_request(),
                                               body.input_format or "text")
            return prepared, "input"
        finally:
            temp.discard()
    raise InvalidInputError("send the book as multipart/form-data (the file in the field 'file') or JSON with "
                            f"'input' (got Content-Type {media or 'none'!r})", param="file")


def form_values(fields: dict[str, str]) -> dict[str, object]:
    values: dict[str, object] = {k: v for k, v in fields.items() if v != ""}
    if isinstance(values.get("normalization_options"), str):
        try:
            values["normalization_options"] = json.loads(str(values["normalization_options"]))
        except json.JSONDecodeError:
            raise InvalidInputError("normalization_options must be a JSON object", param="normalization_options") from None
    return values


def validated(model: type[JobFields], data: object) -> JobFields:
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first.get("loc", ())) or None
        if first.get("type") == "json_invalid":
            raise InvalidInputError(f"the request body is not valid JSON ({first.get('msg')})", param=None) from None
        raise InvalidInputError(f"invalid value for {param!r}: {first.get('msg')}", param=param) from None


async def view_of(jobs: JobsServing, job_id: str) -> JobView:
    return await run_in_threadpool(jobs.store.view, job_id, jobs.service.settings.job_ttl_s)


@router.post("", status_code=202, response_model=JobObject, openapi_extra=UPLOAD_BODY,
             responses={202: {"description": "The job, queued."}, **ERRORS})
async def create_job(request: Request, state: Serving = Depends(serving)) -> JSONResponse:
    """Make a job from an uploaded book (multipart, the file in ``file``) or JSON text (``input``)."""
    jobs = jobs_of(state)
    prepared, name = await read_request(request, jobs)
    job_id = await run_in_threadpool(jobs.service.create, prepared, source_name=name)
    jobs.scheduler.wake()
    view = await view_of(jobs, job_id)
    return JSONResponse(JobObject.of(view).model_dump(), status_code=202, headers={"Location": f"{JOBS_PATH}/{job_id}"})


@router.post("/preview", response_model=BookPreview, openapi_extra=UPLOAD_BODY, responses=ERRORS)
async def preview_book(request: Request, state: Serving = Depends(serving)) -> BookPreview:
    """Read a book as a job would (chapters, what is selected, voice, estimate) without making a job."""
    jobs = jobs_of(state)
    prepared, _ = await read_request(request, jobs)
    book = prepared.book
    return BookPreview(title=prepared.request.options.title or book.title,
                       author=prepared.request.options.author or book.author, language=book.language,
                       format=book.format, voice=prepared.voice, lang_code=prepared.lang, cover=book.cover is not None,
                       captions=prepared.timed, chars=prepared.chars,
                       estimated_audio_seconds=round(prepared.seconds, 1),
                       chapters=[PreviewChapter(number=n, title=c.title, kind=c.kind, chars=len(c.text),
                                                selected=n in prepared.selected, opening=" ".join(c.text.split()[:24]))
                                 for n, c in enumerate(book.chapters, 1)])


@router.get("", response_model=JobList, responses=ERRORS)
async def list_jobs(state: Serving = Depends(serving)) -> JobList:
    jobs = jobs_of(state)

    def collect() -> JobList:
        import shutil

        views = []
        for job_id in jobs.store.ids():
            try:
                views.append(JobObject.of(jobs.store.view(job_id, jobs.service.settings.job_ttl_s)))
            except NotFoundError:  # deleted meanwhile
                continue
        disk = {"used_bytes": jobs.store.disk_bytes(), "limit_bytes": jobs.store.max_disk_bytes,
                "free_bytes": shutil.disk_usage(jobs.store.root).free}
        return JobList(data=views, disk=disk)

    return await run_in_threadpool(collect)


@router.get("/{job_id:jobid}", response_model=JobObject, responses=ERRORS)
async def get_job(job_id: str, state: Serving = Depends(serving)) -> JobObject:
    return JobObject.of(await view_of(jobs_of(state), job_id))


@router.get("/{job_id:jobid}/events", response_class=Response, responses={
    200: {"content": {"text/event-stream": {}}, "description": "job.progress events, then job.completed, "
                                                               "job.failed or job.cancelled."}, **ERRORS})
async def job_events(job_id: str, state: Serving = Depends(serving)) -> Response:
    """Server-sent events: ``job.progress`` on every change (the job object), ending with the final
    status; a stream open for 10 minutes ends (``retry`` is set: EventSource reconnects by itself)."""
    jobs = jobs_of(state)
    await view_of(jobs, job_id)  # 404 before the stream starts

    async def events() -> AsyncIterator[bytes]:
        last: object = None
        quiet_since = opened = time.monotonic()
        yield b"retry: 2000\n\n"
        while time.monotonic() - opened < EVENTS_MAX_S:
            try:
                view = await view_of(jobs, job_id)
            except NotFoundError:
                yield sse_event({"type": "job.deleted", "id": job_id})
                return
            job = JobObject.of(view).model_dump()
            key = (view.status, view.phase, view.chars_done, view.audio_seconds)
            if key != last:
                last = key
                quiet_since = time.monotonic()
                yield sse_event({"type": "job.progress", "job": job})
            if view.status in TERMINAL:
                yield sse_event({"type": f"job.{view.status}", "job": job})
                return
            if time.monotonic() - quiet_since > KEEP_ALIVE_S:
                quiet_since = time.monotonic()
                yield b": keep-alive\n\n"
            await jobs.scheduler.changed(LOOK_S)

    return StreamingResponse(events(), media_type="text/event-stream", headers=STREAM_HEADERS)


@router.get("/{job_id:jobid}/result", response_class=Response, responses={
    200: {"content": {"audio/mp4": {}, "application/zip": {}, **{m: {} for m in captions.MEDIA_TYPES.values()}},
          "description": "The audiobook (m4b), the zip of chapter files, or the book's captions (format=srt, vtt, json)."},
    206: {"description": "Part of it (Range)."}, **ERRORS})
async def job_result(job_id: str, format: str | None = Query(None, description="srt, vtt or json: the captions "
                                                                                 "of the whole book"),
                     state: Serving = Depends(serving)) -> Response:
    jobs = jobs_of(state)
    view = await view_of(jobs, job_id)
    if view.status != "completed":
        raise ConflictError(f"job {job_id} is {view.status}; the result is there once it is completed"
                            + (f" ({view.error})" if view.error else ""), param="id")
    out = jobs.store.output_folder(job_id)
    name = file_stem(view)
    if format in CAPTION_FORMATS:
        path = out / f"book.{format}"
        if not path.is_file():
            raise NotFoundError("this job has no word timings (its model gives no durations), so no captions",
                                param="format")
        return FileResponse(path, media_type=captions.MEDIA_TYPES[format], filename=f"{name}.{format}")
    if format is not None:
        raise InvalidInputError(f"format {format!r}: the result is the job's audio; ask srt, vtt or json for "
                                "captions, or a chapter's audio in any format at /chapters/{n}", param="format")
    kind = "m4b" if view.request.options.format == BOOK_FORMAT else "zip"
    if not (out / f"book.{kind}").is_file():
        raise NotFoundError(f"job {job_id}'s result file is gone from {out}; delete the job and make it again",
                            param="id")
    return FileResponse(out / f"book.{kind}", media_type=BOOK_MEDIA[kind], filename=f"{name}.{kind}")


@router.get("/{job_id:jobid}/chapters/{number}", response_class=Response, responses={
    200: {"content": {"audio/mpeg": {}, **{m: {} for m in captions.MEDIA_TYPES.values()}},
          "description": "A finished chapter's audio (format: any response format; default the job's format, "
                         "mp3 for m4b jobs), captions (format=srt, vtt, json) or text (format=text)."},
    206: {"description": "Part of it (Range)."}, **ERRORS})
async def job_chapter(job_id: str, number: int, format: str | None = Query(None, description="mp3, opus, aac, "
                                                                                             "flac, wav, pcm; "
                                                                                             "srt, vtt, json; or "
                                                                                             "text"),
                      state: Serving = Depends(serving)) -> Response:
    jobs = jobs_of(state)
    view = await view_of(jobs, job_id)
    chapter = next((c for c in view.chapters if c.number == number), None)
    if chapter is None:
        raise NotFoundError(f"job {job_id} has chapters 1 to {len(view.chapters)}", param="number")
    if chapter.status == "skipped":
        raise ConflictError(f"chapter {number} ({chapter.title!r}) is not read in this job", param="number")
    if chapter.status != "completed":
        raise ConflictError(f"chapter {number} is {chapter.status}; it can be had once it is completed", param="number")
    fmt = format or (view.request.options.format if view.request.options.format != BOOK_FORMAT else "mp3")
    if fmt == "text":  # what is read: the text the captions' characters point into
        [layout] = await run_in_threadpool(audiobook.layouts, jobs.store, job_id, number)
        return Response(layout.text, media_type="text/plain; charset=utf-8")
    if fmt not in CAPTION_FORMATS:
        get_format(fmt)
    elif not view.has_words:
        raise NotFoundError("this job has no word timings (its model gives no durations), so no captions",
                            param="format")
    made, name = await run_in_threadpool(chapter_file, jobs, view, number, fmt)
    media = captions.MEDIA_TYPES[fmt] if fmt in CAPTION_FORMATS else get_format(fmt).content_type
    if isinstance(made, Path):
        return FileResponse(made, media_type=media, filename=name)
    return SpooledFileResponse(made, media_type=media, filename=name)


class SpooledFileResponse(FileResponse):
    """A file made for this answer alone: its spool file is deleted however the send ends (sent, the
    client gone, an error)."""

    def __init__(self, spooled: SpoolFile, **kwargs: Any) -> None:
        super().__init__(spooled.path, **kwargs)
        self.spooled = spooled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await run_in_threadpool(self.spooled.discard)


def chapter_file(jobs: JobsServing, view: JobView, number: int, fmt: str) -> tuple[Path | SpoolFile, str]:
    """The chapter's file: made once and kept when the job is complete; else made for this answer
    only, in a spool file (deleted when it is sent; swept at the next start if the server is killed)."""
    store = jobs.store
    [layout] = audiobook.layouts(store, view.id, only=number)
    extension = fmt if fmt in CAPTION_FORMATS else get_format(fmt).extension
    name = audiobook.chapter_file_name(number, layout.title, extension)
    complete = view.status == "completed"
    target = store.output_folder(view.id) / "chapters" / name
    if complete and target.is_file():
        return target, name

    def audio() -> Iterator[np.ndarray]:
        target_lufs = jobs.service.settings.job_loudness_lufs if view.request.options.normalize_loudness else None
        gain = audiobook.book_gain(audiobook.layouts(store, view.id), target_lufs)
        return audiobook.chapter_audio(store, view.id, layout, gain)

    if not complete:
        spooled = jobs.spool()
        try:
            if fmt in CAPTION_FORMATS:
                spooled.file.write(audiobook.caption_bytes(fmt, layout.words() or [], layout.text, layout.seconds))
                spooled.file.flush()
            else:
                audiobook.encode_audio(spooled.file, fmt, audio())
        except BaseException:
            spooled.discard()
            raise
        return spooled, name
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt in CAPTION_FORMATS:
        audiobook.write_captions(target, fmt, layout.words() or [], layout.text, layout.seconds)
    else:
        audiobook.write_audio(target, fmt, audio())
    store.set_outputs(view.id)
    return target, name


def file_stem(view: JobView) -> str:
    title = view.title or view.source_name or view.id
    safe = "".join(ch if ch.isalnum() or ch in " -_" else " " for ch in title)
    return "-".join(safe.split())[:80] or view.id


@router.get("/{job_id:jobid}/cover", response_class=Response, responses={
    200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "The book's cover."}, **ERRORS})
async def job_cover(job_id: str, state: Serving = Depends(serving)) -> Response:
    jobs = jobs_of(state)
    await view_of(jobs, job_id)
    path = jobs.store.cover(job_id)
    if path is None or not path.is_file():
        raise NotFoundError(f"job {job_id}'s book has no cover", param="id")
    return FileResponse(path, media_type="image/png" if path.suffix == ".png" else "image/jpeg")


@router.post("/{job_id:jobid}/cancel", response_model=JobObject, responses=ERRORS)
async def cancel_job(job_id: str, state: Serving = Depends(serving)) -> JobObject:
    """Stop a queued or running job: no new chunk starts, the one in progress ends and is kept with the others."""
    return JobObject.of(await jobs_of(state).scheduler.cancel(job_id))


@router.post("/{job_id:jobid}/resume", response_model=JobObject, responses=ERRORS)
async def resume_job(job_id: str, state: Serving = Depends(serving)) -> JobObject:
    """Queue a cancelled or failed job again: it goes on from its finished chunks."""
    return JobObject.of(await jobs_of(state).scheduler.resume(job_id))


@router.delete("/{job_id:jobid}", response_model=DeletedJob, responses=ERRORS)
async def delete_job(job_id: str, state: Serving = Depends(serving)) -> DeletedJob:
    """Stop the job if it runs, and delete it with all its files."""
    await jobs_of(state).scheduler.delete(job_id)
    return DeletedJob(id=job_id)


