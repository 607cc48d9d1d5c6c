"""A book upload: ``multipart/form-data`` streamed to a temp file in the data dir, with a size cap.

The request is read with ``python-multipart``'s streaming parser, so a large upload never sits in
memory and is never spooled anywhere but ``<data dir>/spool/`` (a spool file, ``files.create_spool_file``:
deleted when the request ends, and swept at the next start if the server was killed). A body announced larger than
the cap (``Content-Length``) is refused before it is read; one that grows past it is cut off with 413.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request

from kokoro_server.errors import InputTooLongError, InvalidInputError
from kokoro_server.serving.jobs import SpoolFile

FORM_SLACK_BYTES = 256 * 1024  # the multipart framing and the other fields
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 64
FILE_FIELD = "file"
WRITE_BATCH = 1 << 20


@dataclass
class Upload:
    file: SpoolFile | None = None  # the book, on disk (discarded when the request is done)
    filename: str = ""
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        if self.file is not None:
            self.file.discard()


def too_large(limit: int) -> InputTooLongError:
    return InputTooLongError(f"the upload is larger than {limit} bytes (KOKORO_JOB_MAX_UPLOAD_BYTES)", param="file")


def check_length(request: Request, limit: int) -> None:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + FORM_SLACK_BYTES:
        raise too_large(limit)


async def read_body(request: Request, limit: int) -> bytes:
    """A JSON body, at most ``limit`` bytes."""
    check_length(request, limit)
    parts, size = [], 0
    async for data in request.stream():
        size += len(data)
        if size > limit:
            raise InputTooLongError(f"the request body is larger than {limit} bytes", param="input")
        parts.append(data)
    return b"".join(parts)


async def receive_upload(request: Request, spool: Callable[[], SpoolFile], limit: int) -> Upload:
    """The form's ``file`` (streamed into a temp file from ``spool``) and its other fields."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    check_length(request, limit)
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidInputError("a multipart/form-data body needs its boundary in Content-Type", param="file")
    upload = Upload()
    state: dict[str, object] = {"name": None, "header": b"", "headers": {}, "value": bytearray()}
    pending = bytearray()
    problems: list[Exception] = []

    def on_part_begin() -> None:
        state["headers"] = {}
        state["name"] = None
        state["value"] = bytearray()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header"] = bytes(state["header"]) + data[start:end]  # type: ignore[operator]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        headers = state["headers"]
        key = bytes(state["header"]).lower()  # type: ignore[arg-type]
        headers[key] = headers.get(key, b"") + data[start:end]  # type: ignore[union-attr,index]

    def on_header_end() -> None:
        state["header"] = b""

    def on_headers_finished() -> None:
        disposition, options = parse_options_header(state["headers"].get(b"content-disposition", b""))  # type: ignore[union-attr]
        name = options.get(b"name", b"").decode("utf-8", "replace")
        state["name"] = name
        if name == FILE_FIELD:
            if upload.file is not None:
                problems.append(InvalidInputError("send one file per job", param="file"))
                return
            upload.filename = options.get(b"filename", b"").decode("utf-8", "replace")
            upload.file = spool()
        elif len(upload.fields) >= MAX_FIELDS:
            problems.append(InvalidInputError(f"more than {MAX_FIELDS} form fields", param=name))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["name"] == FILE_FIELD:
            upload.size += end - start
            if upload.size > limit:
                problems.append(too_large(limit))
                return
            pending.extend(data[start:end])
        else:
            value = state["value"]
            value.extend(data[start:end])  # type: ignore[union-attr]
            if len(value) > MAX_FIELD_BYTES:  # type: ignore[arg-type]
                problems.append(InvalidInputError(f"form field {state['name']!r} is longer than {MAX_FIELD_BYTES} "
                                                  "bytes", param=str(state["name"])))

    def on_part_end() -> None:
        name = state["name"]
        if name and name != FILE_FIELD:
            upload.fields[str(name)] = bytes(state["value"]).decode("utf-8", "replace")  # type: ignore[arg-type]

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
        "on_part_end": on_part_end})
    try:
        async for data in request.stream():
            try:
                parser.write(data)
            except Exception as exc:  # noqa: BLE001 - python-multipart's parse errors
                raise InvalidInputError(f"the multipart/form-data body is malformed ({exc})", param="file") from None
            if problems:
                raise problems[0]
            if len(pending) >= WRITE_BATCH and upload.file is not None:
                await asyncio.to_thread(upload.file.file.write, bytes(pending))
                pending.clear()
        parser.finalize()
        if pending and upload.file is not None:
            await asyncio.to_thread(upload.file.file.write, bytes(pending))
        if upload.file is not None:
            await asyncio.to_thread(upload.file.file.flush)
    except BaseException:
        upload.discard()
        raise
    return upload
