"""ASGI middleware: a request id on every request and response, a structured access log line, a bound
on request body size, one log entry and an OpenAI-style 500 for an unhandled error, and the Host check
against DNS rebinding. Plain ASGI (not BaseHTTPMiddleware), so streaming and disconnects pass through.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import time
import uuid

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kokoro_server.api.errors import error_response, internal_error_response
from kokoro_server.serving.download_links import ROUTE as DOWNLOAD_ROUTE

log = logging.getLogger("kokoro_server.access")
errors_log = logging.getLogger("kokoro_server.api")

REQUEST_ID_HEADER = "X-Request-ID"
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_QUIET_PATHS = ("/health", "/ready")
_DOWNLOADS = f"/v1{DOWNLOAD_ROUTE}/"
DOWNLOAD_NAME_LOGGED = 6  # characters of a download's name in the log: the name is the link's only secret


def logged_path(path: str) -> str:
    """The path as the access log writes it: a download's name cut to a prefix."""
    if path.startswith(_DOWNLOADS) and len(path) > len(_DOWNLOADS) + DOWNLOAD_NAME_LOGGED:
        return path[:len(_DOWNLOADS) + DOWNLOAD_NAME_LOGGED] + "..."
    return path


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, own_limits: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.own_limits = own_limits  # paths whose routes stream and cap their bodies themselves (book uploads)

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

        own_limit = scope["path"] in self.own_limits
        try:
            length = headers.get("content-length", "")
            if not own_limit and length.isdigit() and int(length) > self.max_body_bytes:
                await error_response(413, too_large, code="request_too_large")(scope, receive, send_tagged)
            else:
                await self.app(scope, receive if own_limit else receive_limited, send_tagged)
        except Exception as exc:  # a bug: logged once here (not re-raised to be logged again by the server)
            errors_log.error("unhandled error on %s %s (request %s)", scope["method"], logged_path(scope["path"]),
                             rid, exc_info=exc)
            if not status:
                await internal_error_response()(scope, receive, send_tagged)
        finally:
            level = logging.DEBUG if scope["path"] in _QUIET_PATHS and status < 400 else logging.INFO
            if log.isEnabledFor(level):
                client = scope.get("client")
                log.log(level, json.dumps({
                    "event": "request", "request_id": rid, "method": scope["method"], "path": logged_path(scope["path"]),
                    "status": status or None, "ms": round((time.perf_counter() - started) * 1000, 1),
                    "bytes": sent, "client": client[0] if client else None}))


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host of a Host header, without its port, lower-cased (``[::1]:8880`` -> ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class HostCheckMiddleware:
    """Against DNS rebinding: a page from another site whose name now points at 127.0.0.1 reaches
    this server with its own name in the Host header. Only the allowed names are answered."""

    def __init__(self, app: ASGIApp, *, allowed: list[str]) -> None:
        self.app = app
        self.allowed = frozenset(host_name(name) for name in allowed)

    @classmethod
    def wanted(cls, bound_host: str, extra: list[str]) -> bool:
        """On when listening on loopback, or when KOKORO_ALLOWED_HOSTS names hosts; ``*`` turns it off."""
        return "*" not in extra and (is_loopback(bound_host) or bool(extra))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("host", "")
        if host_name(given) in self.allowed:
            await self.app(scope, receive, send)
            return
        shown = given if _CLIENT_ID.fullmatch(given) else "(not printable)"
        if scope["type"] == "websocket":  # DNS rebinding reaches WebSockets too: refuse the handshake
            await send({"type": "websocket.close", "code": 1008, "reason": "host not allowed"})
            return
        await error_response(400, f"this server does not answer for host {shown!r} (Host header); allowed: "
                             f"{', '.join(sorted(self.allowed))}. Add the name to KOKORO_ALLOWED_HOSTS",
                             param="Host", code="invalid_host")(scope, receive, send)


def origin_allowed(origin: str, host: str, cors_origins: list[str]) -> bool:
    """A browser's WebSocket to this server: from a page of this server (same host and port as the
    Host header) or of an origin KOKORO_CORS_ORIGINS names (``*``: any)."""
    if "*" in cors_origins or origin in cors_origins:
        return True
    scheme, _, rest = origin.partition("://")
    return bool(scheme) and rest.lower() == host.strip().lower()


class WebSocketOriginMiddleware:
    """Against cross-site WebSocket hijacking: browsers send ``Origin`` on a WebSocket handshake and
    let any page open one (no CORS preflight), so a page of another site could drive a local server.
    A handshake with a foreign Origin is refused (403); clients outside a browser send no Origin."""

    def __init__(self, app: ASGIApp, *, cors_origins: list[str]) -> None:
        self.app = app
        self.cors_origins = cors_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None or origin_allowed(origin, headers.get("host", ""), self.cors_origins):
            await self.app(scope, receive, send)
            return
        shown = origin if _CLIENT_ID.fullmatch(origin.replace("/", "")) else "(not printable)"
        message = (f"WebSocket from origin {shown!r} refused: only pages of this server or of KOKORO_CORS_ORIGINS "
                   "may open one")
        errors_log.warning(message)
        if "websocket.http.response" in scope.get("extensions", {}):
            body = json.dumps({"detail": {"status": "origin_not_allowed", "message": message}}).encode()
            await send({"type": "websocket.http.response.start", "status": 403,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": "origin not allowed"})
