"""The text front end over HTTP: ``POST /dev/phonemize``, ``POST /dev/generate_from_phonemes`` (the shapes
Kokoro-FastAPI has) and ``GET /v1/lexicon``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kokoro_server.api.protocol import (ErrorBody, GenerateFromPhonemesBody, LexiconList, LexiconObject,
                                        PhonemizeBody, PhonemizeResponse)
from kokoro_server.api.routes.speech import create_speech
from kokoro_server.api.security import KEYED
from kokoro_server.api.state import Serving, serving

router = APIRouter(tags=["text"], **KEYED)


@router.post("/dev/phonemize", response_model=PhonemizeResponse, responses={400: {"model": ErrorBody}})
async def phonemize(body: PhonemizeBody, state: Serving = Depends(serving)) -> PhonemizeResponse:
    """Text -> the phonemes and token ids the model would get (markup, lexicon and normalization applied)."""
    phonemes, tokens = await run_in_threadpool(state.service.phonemize, body.text, body.language, body.model)
    return PhonemizeResponse(phonemes=phonemes, tokens=tokens)


@router.post("/dev/generate_from_phonemes", response_class=Response, responses={
    200: {"content": {"audio/wav": {}}, "description": "The audio (WAV unless response_format says otherwise)."},
    400: {"model": ErrorBody}})
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
