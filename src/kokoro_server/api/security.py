"""Optional API keys: when ``KOKORO_API_KEYS`` is set, ``Authorization: Bearer <key>`` is required.

The key is checked by the route itself (:class:`KeyedRoute`), before FastAPI reads or parses the body,
so a request without a valid key gets 401 whatever its body holds. With ``KOKORO_PUBLIC_LISTS`` the
read-only routes (every ``GET`` of a keyed router: the voice and model lists, the config) need no key.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer

from kokoro_server.api.protocol import ErrorBody
from kokoro_server.errors import AuthenticationError

bearer = HTTPBearer(auto_error=False, description="One of KOKORO_API_KEYS (only when that is set).")
READ_ONLY_METHODS = ("GET", "HEAD")


def presented_key(request: Request) -> str | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


def key_is_valid(request: Request) -> bool:
    """True when no keys are configured, or the request carries one of them."""
    return key_accepted(request.app.state.serving.settings.api_keys, presented_key(request))


def key_accepted(keys: list[str], given: str | None) -> bool:
    """True when no keys are configured, or ``given`` is one of them (compared in constant time)."""
    if not keys:
        return True
    return given is not None and any(hmac.compare_digest(given.encode(), key.encode()) for key in keys)


XI_API_KEY = "xi-api-key"  # ElevenLabs' clients send their key in this header (or query parameter)


def dialect_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The key of an ElevenLabs-dialect request: the ``xi-api-key`` header or query parameter, else
    ``Authorization: Bearer``."""
    given = headers.get(XI_API_KEY) or query.get(XI_API_KEY) or query.get("xi_api_key")
    if given:
        return given.strip()
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


def check_api_key(request: Request) -> None:
    if key_is_valid(request):
        return
    if presented_key(request) is None:
        raise AuthenticationError("an API key is required: send the header Authorization: Bearer <key>")
    raise AuthenticationError("the API key is not valid")


class KeyedRoute(APIRoute):
    """A route that checks the API key first (before the body is read, parsed and validated)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def keyed(request: Request) -> Response:
            settings = request.app.state.serving.settings
            if not (settings.public_lists and request.method in READ_ONLY_METHODS):
                check_api_key(request)
            return await handler(request)

        return keyed


# The arguments of a router whose routes need the key: the check (KeyedRoute), the scheme shown in
# /docs (the bearer dependency only reads the header) and the errors every such route may answer.
KEYED: dict[str, Any] = {"route_class": KeyedRoute, "dependencies": [Depends(bearer)],
         "responses": {400: {"model": ErrorBody, "description": "Invalid request"},
                       401: {"model": ErrorBody, "description": "Missing or wrong API key"}}}
