"""``GET /health`` (the process answers) and ``GET /ready`` (preloading done, default model runnable)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from kokoro_server import __version__
from kokoro_server.api.security import key_is_valid
from kokoro_server.api.state import Serving, serving
from kokoro_server.builds import BUILDS

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/ready", responses={503: {"description": "Not ready (yet): see problems."}})
async def ready(request: Request, state: Serving = Depends(serving)) -> JSONResponse:
    """200 once preloading has finished and the default model can run; 503 otherwise, with why.

    The status code is public (for probes); with KOKORO_API_KEYS set, the detail (loaded versions,
    problems, queue) is given only with a valid key."""
    statuses = await run_in_threadpool(lambda: {v: state.service.models.status(b) for v, b in BUILDS.items()})
    default = statuses[state.settings.default_model]
    problems = dict(state.preload.problems)
    if not default.ready:
        problems[default.version] = default.problem or "not ready"
    ok = state.preload.done and not problems
    if not key_is_valid(request):
        return JSONResponse({"status": "ready" if ok else "not_ready"}, status_code=200 if ok else 503)
    body = {"status": "ready" if ok else "not_ready", "default_model": default.version,
            "loaded": [v for v, s in statuses.items() if s.loaded], "preloading": not state.preload.done,
            "problems": problems, "queue": state.runner.snapshot(),
            "models": {v: {"runs": s.runs, "device": s.device, "fallback": s.fallback, "derivation": s.derivation}
                       for v, s in statuses.items() if s.loaded or s.derivation}}
    return JSONResponse(body, status_code=200 if ok else 503)
