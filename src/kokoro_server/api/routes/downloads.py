"""``GET /v1/download/{name}``: files kept for ``return_download_link`` (the random name is the key).

The response's ``X-Download-Path`` is ``/download/{name}``, relative to ``/v1`` as Kokoro-FastAPI sends it.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from kokoro_server.api.protocol import ErrorBody
from kokoro_server.api.state import Serving, serving
from kokoro_server.serving.download_links import ROUTE

router = APIRouter(prefix="/v1", tags=["speech"])


@router.get(ROUTE + "/{name}", response_class=FileResponse, responses={404: {"model": ErrorBody}})
async def download(name: str, state: Serving = Depends(serving)) -> FileResponse:
    found = state.downloads.get(name)
    return FileResponse(found.path, media_type=found.content_type, filename=found.name,
                        content_disposition_type="inline")
