"""One exception handler: every error leaves the server as OpenAI's ``{"error": {...}}`` body."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from kokoro_server.api.protocol import ErrorBody, ErrorDetail
from kokoro_server.errors import BusyError, KokoroError, quote
from kokoro_server.serving.runner import ClientGone

log = logging.getLogger("kokoro_server.api")

_HTTP_CODES = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


def error_response(status: int, message: str, *, type_: str = "invalid_request_error", param: str | None = None,
                   code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(message=message, type=type_, param=param, code=code))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _is_json(media_type: str) -> bool:
    media = media_type.lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _validation_response(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {"msg": "invalid request", "loc": (), "type": "invalid"}
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip()
    if first.get("loc", ())[:1] == ("body",) and not _is_json(media_type):
        # e.g. `curl -d '{...}'`, which sends application/x-www-form-urlencoded. Not parsed as JSON on
        # purpose: a web page of another site may send such a body to a local server without asking.
        got = f"Content-Type {quote(media_type)}" if media_type else "no Content-Type"
        return error_response(400, f"the request body must be JSON sent with Content-Type: application/json "
                                   f"(got {got}); with curl: -H 'Content-Type: application/json'",
                              code="unsupported_content_type")
    if first.get("type") == "json_invalid":
        return error_response(400, f"the request body is not valid JSON ({first.get('ctx', {}).get('error', '')})",
                              code="invalid_json")
    param = ".".join(loc) or None
    where = f"'{param}'" if param else "the request body"
    return error_response(400, f"invalid value for {where}: {first.get('msg', 'invalid')}", param=param,
                          code=str(first.get("type", "invalid_value")))


async def handle_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, KokoroError):
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, BusyError) else None
        if isinstance(exc, BusyError) or exc.status_code >= 500:
            log.warning("%s %s -> %d: %s", request.method, request.url.path, exc.status_code, exc.message)
        return error_response(exc.status_code, exc.message, type_=exc.error_type, param=exc.param,
                              code=exc.code, headers=headers)
    if isinstance(exc, RequestValidationError):
        return _validation_response(request, exc)
    assert isinstance(exc, HTTPException)  # the handler is installed for these three kinds only
    message = str(exc.detail)
    if exc.status_code in (404, 405):
        message += f": {request.method} {request.url.path} (the API is described at /docs)"
    headers = exc.headers
    if exc.status_code == 405:  # Starlette names the first route of the path only: name every method it has
        headers = {**(headers or {}), "Allow": allowed_methods(request)}
    return error_response(exc.status_code, message, code=_HTTP_CODES.get(exc.status_code),
                          type_="authentication_error" if exc.status_code == 401 else "invalid_request_error",
                          headers=headers)


def allowed_methods(request: Request) -> str:
    """Every method some route of the app takes at this request's path (``DELETE, GET, HEAD``)."""
    from starlette.routing import Match

    allowed = [method for method in ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")
               if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
                      for route in request.app.router.routes)]
    return ", ".join(allowed)


# A bug (any other exception) is not handled here: RequestContextMiddleware logs it once and answers
# internal_error_response() (an app handler for Exception would be followed by the server's own traceback).


def internal_error_response() -> JSONResponse:
    return error_response(500, "internal server error (logged on the server)", type_="server_error",
                          code="internal_error")


async def client_left(request: Request, exc: Exception) -> Response:
    """A request dropped while queued because its client disconnected: nobody listens, nothing is sent."""
    return Response(status_code=499)


def install_error_handler(app: FastAPI) -> None:
    for kind in (KokoroError, RequestValidationError, HTTPException):
        app.add_exception_handler(kind, handle_error)
    app.add_exception_handler(ClientGone, client_left)
