"""ASGI wrappers for the cluster: around the app in each replica, and around Serve's HTTP proxy.

No Ray import at module level: the proxy imports this module through
``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH`` and replicas import it with the deployment.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kokoro_server.api.protocol import ErrorBody, ErrorDetail

REPLICA_HEADER = "X-Kokoro-Replica"
PROXY_CALLBACK = "kokoro_server.cluster.asgi.proxy_middlewares"
_REQUEST_ID = b"x-request-id"


class ReplicaApp:
    """The app as one replica serves it.

    - Names the replica in ``X-Kokoro-Replica`` on every response.
    - Leaves ``X-Request-ID`` to Serve's proxy, which adds the same id again (it passes its id to
      the replica as the request's header, which the app adopts).
    - When the client goes away Ray cancels the call; ``receive()`` may then raise Ray's
      ``TaskCancelledError`` (or ``CancelledError`` without this task being cancelled): both are
      answered as ``http.disconnect``, so the app ends the request as a disconnect (synthesis stops,
      logged as cancelled) instead of with a traceback.
    """

    def __init__(self, app: ASGIApp, replica: str) -> None:
        self.app = app
        self.replica = replica.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_named(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != _REQUEST_ID]
                message = {**message, "headers": [*headers, (REPLICA_HEADER.lower().encode(), self.replica)]}
            await send(message)

        await self.app(scope, disconnect_on_cancel(receive), send_named)


def disconnect_on_cancel(receive: Receive) -> Receive:
    from ray.exceptions import TaskCancelledError

    async def guarded() -> Message:
        try:
            return await receive()
        except TaskCancelledError:
            return {"type": "http.disconnect"}
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this task is being cancelled: let it end
            return {"type": "http.disconnect"}

    return guarded


class ServeErrorBody:
    """In Serve's proxy: its own plain-text answers (back-pressure 429/503, no replica 503) get our
    OpenAI error body, keeping their status and headers (``Retry-After``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None

        async def send_mapped(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and _is_serve_text(message):
                held = message
                return
            if held is not None and message["type"] == "http.response.body":
                start, held = held, None
                text = message.get("body", b"").decode("utf-8", "replace")
                body = serve_error_body(start["status"], text)
                headers = [(k, v) for k, v in start.get("headers", [])
                           if k.lower() not in (b"content-type", b"content-length")]
                headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, send_mapped)


def _is_serve_text(message: Message) -> bool:
    if message["status"] not in (429, 503):
        return False
    types = [v for k, v in message.get("headers", []) if k.lower() == b"content-type"]
    return not types or types[0].startswith(b"text/plain")


def serve_error_body(status: int, text: str) -> bytes:
    busy = status == 429 or "backpressure" in text
    detail = ErrorDetail(
        message=f"the cluster is busy: every replica is at its limit ({text.strip()}); retry later" if busy
        else f"no replica can take the request now ({text.strip()}); retry later",
        type="rate_limit_error" if busy else "server_error", param=None,
        code="queue_full" if busy else "unavailable")
    return json.dumps(ErrorBody(error=detail).model_dump()).encode()


def proxy_middlewares() -> list[object]:
    """Called by Serve in its proxy (``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH``)."""
    from starlette.middleware import Middleware

    return [Middleware(ServeErrorBody)]
