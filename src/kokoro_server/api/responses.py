"""HTTP glue for speech sessions: the client as a session's :class:`Listener`, responses that close
their session however the send ends, a whole file sent from its spool, and the error statuses a
route documents."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterable
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from kokoro_server.api.protocol import ErrorBody
from kokoro_server.api.state import Serving, request_id
from kokoro_server.errors import KokoroError
from kokoro_server.service import SpeechRequest
from kokoro_server.serving.session import SessionOptions, SpeechSession
from kokoro_server.serving.spool import READ_BYTES, Spool

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# Every status a speech route may answer with besides 200 (OpenAPI lists them: schemathesis checks)
SPEECH_ERRORS = (400, 401, 404, 413, 422, 424, 429, 507)


def errors(codes: Iterable[int]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entries of these error statuses (all OpenAI's error body)."""
    return {code: {"model": ErrorBody} for code in codes}


class RequestListener:
    """An HTTP client as a session sees it: gone when it disconnects."""

    def __init__(self, request: Request) -> None:
        self._request = request

    async def gone(self) -> None:
        """Returns when the client disconnects (the body has been read: nothing else can arrive)."""
        while (await self._request.receive())["type"] != "http.disconnect":
            pass

    async def left(self) -> bool:
        return await self._request.is_disconnected()


def open_session(state: Serving, request: Request, speech: SpeechRequest, options: SessionOptions) -> SpeechSession:
    return state.sessions.open(speech, options, request_id=request_id(request), listener=RequestListener(request))


class SessionResponse(StreamingResponse):
    """A streaming response that always closes its session, however the send ends."""

    def __init__(self, content: AsyncIterator[bytes], session: SpeechSession, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.session = session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.session.close()


async def spool_bytes(spool: Spool, block: int = READ_BYTES) -> AsyncIterator[bytes]:
    """A finished spool's bytes, read in a worker thread a block at a time."""
    spool.rewind()
    while data := await run_in_threadpool(spool.read, block):
        yield data


def whole_file(session: SpeechSession, spool: Spool, media_type: str, headers: dict[str, str]) -> SessionResponse:
    """The complete file, sent from its spool with its length; the session (and spool) close after."""
    headers = {k: v for k, v in headers.items() if k != "X-Accel-Buffering"}
    headers["Content-Length"] = str(spool.size)
    return SessionResponse(spool_bytes(spool), session, media_type=media_type, headers=headers)


def json_with_audio(session: SpeechSession, spool: Spool, before: bytes, after: bytes,
                    headers: dict[str, str]) -> SessionResponse:
    """``before`` + the spool's bytes in base64 + ``after``: a JSON object holding a whole file,
    streamed with its length (the audio is never held in memory at once)."""
    headers = {k: v for k, v in headers.items() if k != "X-Accel-Buffering"}
    headers["Content-Length"] = str(len(before) + 4 * -(-spool.size // 3) + len(after))

    async def body() -> AsyncIterator[bytes]:
        yield before
        async for block in spool_bytes(spool, READ_BYTES - READ_BYTES % 3):  # whole base64 groups
            yield base64.b64encode(block)
        yield after

    return SessionResponse(body(), session, media_type="application/json", headers=headers)


def error_payload(error: Exception) -> dict[str, object]:
    """The OpenAI-style error of a stream that failed after it began (details of unknown errors stay in the log)."""
    known = isinstance(error, KokoroError)
    return {"message": error.message if known else "synthesis failed (logged on the server)",
            "type": error.error_type if known else "server_error",
            "param": error.param if known else None, "code": error.code if known else "internal_error"}
