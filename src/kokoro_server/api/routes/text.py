"""The text front end over HTTP: ``POST /dev/phonemize``, ``POST /dev/generate_from_phonemes`` (the shapes
Kokoro-FastAPI has) and ``GET /v1/lexicon``."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kokoro_server.api.protocol import (GenerateFromPhonemesBody, LexiconList, LexiconObject, PhonemizeBody,
                                        PhonemizeResponse)
from kokoro_server.api.responses import SPEECH_ERRORS, RequestListener, errors
from kokoro_server.api.routes.speech import create_speech
from kokoro_server.api.security import KEYED
from kokoro_server.api.state import Serving, request_id, serving

router = APIRouter(tags=["text"], **KEYED)


@router.post("/dev/phonemize", response_model=PhonemizeResponse, responses=errors((400, 401, 404, 413, 429)))
async def phonemize(body: PhonemizeBody, request: Request, state: Serving = Depends(serving)) -> PhonemizeResponse:
    """Text -> the phonemes and token ids the model would get (markup, lexicon and normalization applied).
    It takes a synthesis slot like a speech request (KOKORO_CONCURRENCY, KOKORO_QUEUE_SIZE; else 429)."""
    phonemes, tokens = await state.runner.run_task(
        partial(state.service.phonemize, body.text, body.language, body.model), request_id=request_id(request),
        version="-", label="phonemize", chars=len(body.text), client_gone=RequestListener(request).gone)
    return PhonemizeResponse(phonemes=phonemes, tokens=tokens)


@router.post("/dev/generate_from_phonemes", response_class=Response, responses={
    200: {"content": {"audio/wav": {}}, "description": "The audio (WAV unless response_format says otherwise)."},
    **errors(SPEECH_ERRORS)})
async def generate_from_phonemes(body: GenerateFromPhonemesBody, request: Request,
                                 state: Serving = Depends(serving)) -> Response:
    """Phonemes -> audio: the speech endpoint with ``input_format: "phonemes"``."""
    return await create_speech(body.to_speech(), request, state)


@router.get("/v1/lexicon", response_model=LexiconList)
async def lexicon(state: Serving = Depends(serving)) -> LexiconList:
    """The data dir's pronunciation lexicons (``lexicon/<lang>.json`` or ``.tsv``) as loaded, with problems."""
    lexicons = await run_in_threadpool(state.service.lexicon_list)
    return LexiconList(lexicons=[LexiconObject(lang=x.lang, file=str(x.path), entries=dict(x.entries),
                                               problems=list(x.problems)) for x in lexicons])
