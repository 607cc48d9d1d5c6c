"""ASGI middleware: a request id on every request and response, a structured access log line, and a
bound on request body size. Plain ASGI (not BaseHTTPMiddleware), so streaming and disconnects pass through.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kokoro_server.api.errors import error_response

log = logging.getLogger("kokoro_server.access")

REQUEST_ID_HEADER = "X-Request-ID"
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_QUIET_PATHS = ("/health", "/ready")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        given = headers.get(REQUEST_ID_HEADER, "")
        rid = given if _CLIENT_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status, sent, received = 0, 0, 0
        too_large = (f"the request body is larger than {self.max_body_bytes} bytes "
                     "(the limit follows KOKORO_MAX_INPUT_CHARS)")

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(413, too_large)
            return message

        async def send_tagged(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                  (REQUEST_ID_HEADER.lower().encode(), rid.encode())]}
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > self.max_body_bytes:
                await error_response(413, too_large, code="request_too_large")(scope, receive, send_tagged)
            else:
                await self.app(scope, receive_limited, send_tagged)
        finally:
            level = logging.DEBUG if scope["path"] in _QUIET_PATHS and status < 400 else logging.INFO
            if log.isEnabledFor(level):
                client = scope.get("client")
                log.log(level, json.dumps({
                    "event": "request", "request_id": rid, "method": scope["method"], "path": scope["path"],
                    "status": status or None, "ms": round((time.perf_counter() - started) * 1000, 1),
                    "bytes": sent, "client": client[0] if client else None}))
