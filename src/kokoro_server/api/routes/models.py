"""Models: the OpenAI list (``GET /v1/models``), Open WebUI's ``GET /v1/audio/models``, load and unload."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from kokoro_server.api.protocol import AudioModelList, ErrorBody, ModelList, ModelObject
from kokoro_server.api.security import KEYED
from kokoro_server.api.state import Serving, serving
from kokoro_server.builds import BUILDS, model_aliases, resolve_model_name
from kokoro_server.engine.models import ModelStatus
from kokoro_server.errors import ModelInUseError

router = APIRouter(prefix="/v1", tags=["models"], **KEYED)
ERRORS = {404: {"model": ErrorBody}, 424: {"model": ErrorBody}}


def model_object(name: str, status: ModelStatus) -> ModelObject:
    return ModelObject(id=name, version=status.version, title=status.title,
                       status="loaded" if status.loaded else "ready" if status.ready else "unavailable",
                       backend=status.backend, weights=status.weights, problem=status.problem, runs=status.runs,
                       why=status.why, device=status.device, fallback=status.fallback, derivation=status.derivation)


def all_models(state: Serving) -> list[ModelObject]:
    """Every model name a request may use (bare version names aside), with its build's status."""
    statuses = {version: state.service.models.status(build) for version, build in BUILDS.items()}
    return [model_object(name, statuses[version])
            for name, version in model_aliases(state.settings.default_model).items() if name not in BUILDS]


@router.get("/models", response_model=ModelList)
async def list_models(state: Serving = Depends(serving)) -> ModelList:
    return ModelList(data=await run_in_threadpool(all_models, state))


@router.get("/audio/models", response_model=AudioModelList)
async def list_audio_models(state: Serving = Depends(serving)) -> AudioModelList:
    return AudioModelList(models=await run_in_threadpool(all_models, state))


@router.get("/models/{model}", response_model=ModelObject, responses=ERRORS)
async def get_model(model: str, state: Serving = Depends(serving)) -> ModelObject:
    build = resolve_model_name(model, state.settings.default_model)
    return model_object(model, await run_in_threadpool(state.service.models.status, build))


@router.post("/models/{model}/load", response_model=ModelObject, responses=ERRORS)
async def load_model(model: str, state: Serving = Depends(serving)) -> ModelObject:
    """Load the model's weights now (missing files: a 424 naming the file and the fix)."""
    build = resolve_model_name(model, state.settings.default_model)
    await run_in_threadpool(state.service.models.get, build.version)
    return model_object(model, state.service.models.status(build))


@router.post("/models/{model}/unload", response_model=ModelObject, responses={**ERRORS, 409: {"model": ErrorBody}})
async def unload_model(model: str, state: Serving = Depends(serving)) -> ModelObject:
    """Free the model's memory; refused (409) while a request is synthesizing with it."""
    build = resolve_model_name(model, state.settings.default_model)
    if state.runner.in_use(build.version):
        raise ModelInUseError(f"{build.title} is synthesizing for {state.runner.running} request(s); "
                              "unload it when they have finished", param="model")
    await run_in_threadpool(state.service.models.unload, build.version)
    return model_object(model, await run_in_threadpool(state.service.models.status, build))
