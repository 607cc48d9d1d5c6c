"""The web page at ``/web`` (static files of :mod:`kokoro_server.web`); ``/`` leads there.

Mounted only when ``KOKORO_WEB_UI`` is true. The page talks to the same ``/v1`` API as any client.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from kokoro_server.web import STATIC_DIR

PATH = "/web"
# Only this server's own files and API: the page never loads anything from elsewhere.
CONTENT_SECURITY_POLICY = ("default-src 'self'; media-src 'self' blob:; img-src 'self' data:; "
                           "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse(PATH + "/")


class WebFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["Cache-Control"] = "no-cache"  # revalidate (ETag), so an upgrade shows at once
        return response


def mount_web_ui(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(PATH, WebFiles(directory=STATIC_DIR, html=True), name="web")
