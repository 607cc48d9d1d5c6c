"""Optional API keys: when ``KOKORO_API_KEYS`` is set, ``Authorization: Bearer <key>`` is required."""

from __future__ import annotations

import hmac

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kokoro_server.errors import AuthenticationError

bearer = HTTPBearer(auto_error=False, description="One of KOKORO_API_KEYS (only when that is set).")


async def require_api_key(request: Request,
                          credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    keys = request.app.state.serving.settings.api_keys
    if not keys:
        return
    if credentials is None:
        raise AuthenticationError("an API key is required: send the header Authorization: Bearer <key>")
    given = credentials.credentials.encode()
    if not any(hmac.compare_digest(given, key.encode()) for key in keys):
        raise AuthenticationError("the API key is not valid")
