"""Serving ElevenLabs' text-to-speech dialect: the REST answers and the WebSocket sessions.

REST: the whole text is one :class:`LiveSpeech`, so it is chunked exactly as ``/v1/audio/speech``
chunks it; audio comes as bytes, or as JSON with base64 audio and character alignments (seconds from
the start of the audio).

WebSockets (``stream-input``: one context; ``multi-stream-input``: several, by ``context_id``): each
context is a :class:`LiveSpeech` and a task that sends its chunks as ``audio`` answers with their
``alignment`` and ``normalizedAlignment`` (milliseconds from the start of that answer's audio, as
ElevenLabs documents them), then ``isFinal``. When text goes to synthesis:

- as soon as a phrase is complete (a clause or sentence end, safe to cut; see text/incremental.py);
- ``chunk_length_schedule``: when that many characters wait without a phrase end, at a word;
- ``try_trigger_generation``: now, at a word, if at least 50 characters wait;
- ``flush``: everything received; ``auto_mode``: each message that ends a phrase, and whatever
  waits after a quiet period without new text;
- the end of the input (``{"text": ""}`` on stream-input; ``close_context`` after a flush).

``close_context`` on a context that was not flushed last (a barge-in), a second ``close_context``,
or a closed socket stop the context at once: a run waiting for a slot is dropped, a running one
stops after the chunk in progress, and ``isFinal`` follows. The alignments already sent tell what
was said.

Limits, each with ElevenLabs' error message and a close code: connections server-wide (1013),
contexts per socket (1008), text waiting per context (1009), a message that is not JSON or not a
message (1007), a binary frame (1003), the API key (1008), the inactivity timeout (1008).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from kokoro_server.api.elevenlabs.alignment import Aligner, Alignment
from kokoro_server.api.elevenlabs.protocol import (DEFAULT_INACTIVITY_S, DEFAULT_OUTPUT_FORMAT, DEFAULT_SCHEDULE,
                                                   MIN_SCHEDULE, SocketMessage, TextNormalization, TextToSpeechBody,
                                                   VoiceSettings, error_status, inline_markup, kokoro_language,
                                                   kokoro_model, kokoro_voice, normalization, rest_alignment,
                                                   socket_alignment, socket_error)
from kokoro_server.api.security import dialect_key, key_accepted
from kokoro_server.api.state import Serving
from kokoro_server.audio.encoders import AudioFormat, get_output_format
from kokoro_server.builds import get_build, resolve_model_name
from kokoro_server.errors import InputTooLongError, KokoroError
from kokoro_server.serving.live_speech import LiveOptions, LiveSpeech, SpokenChunk, stop_task

log = logging.getLogger("kokoro_server.elevenlabs")

AUTO_QUIET_S = 0.25  # auto_mode: text waiting this long without more goes to synthesis
SEND_TIMEOUT_S = 30.0  # a client that reads nothing for this long is gone (its slot comes free)
MAX_AUDIO_BYTES = 384 * 1024  # audio per answer (base64: 512 KiB; the SDK's websockets client takes 1 MiB)
PHRASE_END = ".!?…。！？,;:—–、，；："

# WebSocket close codes (RFC 6455)
NORMAL, UNSUPPORTED_DATA, INVALID_PAYLOAD, POLICY = 1000, 1003, 1007, 1008
TOO_BIG, INTERNAL, TRY_LATER = 1009, 1011, 1013


def live_options(state: Serving, voice_id: str, *, model_id: str | None, language_code: str | None,
                 voice_settings: VoiceSettings | None, text_normalization: TextNormalization | None) -> LiveOptions:
    model = kokoro_model(model_id)
    default = state.settings.default_model
    build = resolve_model_name(model, default) if model else get_build(default)
    voice = voice_id if state.service.voices.has(build, voice_id) else kokoro_voice(voice_id)
    return LiveOptions(voice=voice, model=model, speed=(voice_settings.speed if voice_settings and
                                                        voice_settings.speed else 1.0),
                       lang=kokoro_language(language_code, voice, build),
                       normalization=normalization(text_normalization))


# -- REST -------------------------------------------------------------------------------------

@dataclass
class RestSpeech:
    """One REST request's speech: the first chunk is synthesized before an answer is chosen (so
    errors are proper statuses), then the rest as it comes."""

    live: LiveSpeech
    first: SpokenChunk
    chunks: AsyncGenerator[SpokenChunk, None]
    format: AudioFormat

    async def all(self) -> AsyncIterator[SpokenChunk]:
        try:
            yield self.first
            async for chunk in self.chunks:
                yield chunk
        finally:
            await self.chunks.aclose()

    async def audio(self) -> AsyncIterator[bytes]:
        async for chunk in self.all():
            if chunk.data:
                yield chunk.data

    async def timed(self) -> AsyncIterator[dict[str, Any]]:
        """Per chunk: its audio (base64) and alignments, in seconds from the start of the audio."""
        aligner, clock = Aligner(), 0.0
        async for chunk in self.all():
            answer: dict[str, Any] = {"audio_base64": base64.b64encode(chunk.data).decode(),
                                      "alignment": None, "normalized_alignment": None}
            aligned = aligner.chunk(self.live.spoken_text, chunk) if not chunk.final else None
            if aligned is not None:
                original, spoken = aligned
                answer["alignment"] = rest_alignment(*_fields(original.shifted(clock)))
                answer["normalized_alignment"] = rest_alignment(*_fields(spoken.shifted(clock)))
            clock += chunk.seconds
            if chunk.data or aligned is not None:
                yield answer


def _fields(alignment: Alignment) -> tuple[list[str], list[float], list[float]]:
    return alignment.chars, alignment.starts, alignment.ends


async def start_rest_speech(state: Serving, voice_id: str, body: TextToSpeechBody, output_format: str | None,
                            *, request_id: str) -> RestSpeech:
    fmt = get_output_format(output_format or DEFAULT_OUTPUT_FORMAT)
    if len(body.text) > state.settings.max_input_chars:
        raise InputTooLongError(f"text is {len(body.text)} characters; the limit is {state.settings.max_input_chars} "
                                "(KOKORO_MAX_INPUT_CHARS)", param="text")
    options = live_options(state, voice_id, model_id=body.model_id, language_code=body.language_code,
                           voice_settings=body.voice_settings, text_normalization=body.apply_text_normalization)
    live = LiveSpeech(state.sessions, fmt, options, request_id=request_id)
    await live.open()
    live.append(inline_markup(body.text), cut=False)
    live.finish()
    chunks = live.chunks()
    first = await chunks.__anext__()
    return RestSpeech(live, first, chunks, fmt)


# -- WebSockets -------------------------------------------------------------------------------

class SocketQuery(BaseModel):
    """The query parameters of ``stream-input`` and ``multi-stream-input``."""

    model_config = ConfigDict(extra="ignore")

    model_id: str | None = None
    output_format: str = DEFAULT_OUTPUT_FORMAT
    language_code: str | None = None
    sync_alignment: bool = False  # alignment always comes with each answer's audio; true: on the context's clock
    auto_mode: bool = False
    inactivity_timeout: float = Field(DEFAULT_INACTIVITY_S, gt=0)
    apply_text_normalization: TextNormalization | None = None
    # accepted for compatibility: no effect on Kokoro
    enable_logging: bool | None = None
    enable_ssml_parsing: bool | None = None
    optimize_streaming_latency: int | None = None
    apply_language_text_normalization: bool | None = None
    seed: int | None = None


class SocketClosed(Exception):
    """The session ends: say why (an ElevenLabs error message, unless None) and close with ``code``."""

    def __init__(self, code: int, reason: str, error: str | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.error = error


@dataclass
class Context:
    key: str
    id: str | None  # None on stream-input (answers carry no contextId)
    live: LiveSpeech
    schedule: tuple[int, ...]
    task: asyncio.Task[None] | None = None
    flushed: bool = False  # the last thing asked was a flush: close_context lets it finish
    closing: bool = False
    quiet: asyncio.TimerHandle | None = None
    cuts: int = 0


@dataclass
class SocketSession:
    """One ElevenLabs WebSocket."""

    websocket: WebSocket
    state: Serving
    voice_id: str
    multi: bool
    query: SocketQuery = field(default_factory=SocketQuery)
    contexts: dict[str, Context] = field(default_factory=dict)  # open ones (a finished one is let go)
    opened: int = 0
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    authenticated: bool = False
    closing: bool = False
    _send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    # -- the session -------------------------------------------------------------------------
    async def run(self) -> None:
        started = time.monotonic()
        ws = self.websocket
        connections = self.state.connections
        if not connections.try_open(self.state.settings.live_connections):
            await ws.accept()
            await self._end(SocketClosed(TRY_LATER, f"too many connections open ({connections.open}; "
                                         "KOKORO_LIVE_CONNECTIONS); retry later", "too_many_concurrent_requests"))
            return
        try:
            await ws.accept()
            await self._serve()
        except SocketClosed as closed:
            await self._end(closed)
        except WebSocketDisconnect:
            pass
        except Exception:  # a bug: logged once; the client gets 1011
            log.exception("ElevenLabs WebSocket session %s failed", self.session_id)
            await self._end(SocketClosed(INTERNAL, "internal error (logged on the server)", "internal_error"))
        finally:
            await self._stop_all()
            connections.close()
            log.info(json.dumps({"event": "websocket", "session": self.session_id, "voice": self.voice_id,
                                 "contexts": self.opened, "seconds": round(time.monotonic() - started, 3)}))

    async def _serve(self) -> None:
        try:
            self.query = SocketQuery.model_validate(dict(self.websocket.query_params))
        except ValidationError as exc:
            raise SocketClosed(POLICY, f"invalid query parameter: {_first_error(exc)}", "invalid_request") from None
        try:
            get_output_format(self.query.output_format)
        except KokoroError as exc:
            raise SocketClosed(POLICY, exc.message, error_status(exc)) from None
        self.query.inactivity_timeout = min(self.query.inactivity_timeout, self.state.settings.live_idle_timeout_s)
        keys = self.state.settings.api_keys
        given = dialect_key(self.websocket.headers, self.websocket.query_params)
        if given is not None and not key_accepted(keys, given):
            raise SocketClosed(POLICY, "the API key is not valid", "invalid_api_key")
        self.authenticated = key_accepted(keys, given)
        while True:
            message = await self._receive()
            if message is None:
                return
            try:
                await self._handle(message)
            except KokoroError as exc:
                raise SocketClosed(TOO_BIG if isinstance(exc, InputTooLongError) else POLICY, exc.message,
                                   error_status(exc)) from None
            if self.closing and not self._speaking():
                raise SocketClosed(NORMAL, "done", None)

    async def _receive(self) -> SocketMessage | None:
        """The next message; idle past inactivity_timeout (nothing received, nothing being spoken)
        ends the session."""
        while True:
            try:
                raw = await asyncio.wait_for(self.websocket.receive(), self.query.inactivity_timeout)
            except asyncio.TimeoutError:
                if self._speaking():
                    continue
                raise SocketClosed(POLICY, f"Have not received a new text input within the timeout of "
                                   f"{self.query.inactivity_timeout:g} seconds. Streaming input will now close.",
                                   "input_timeout_exceeded") from None
            if raw["type"] == "websocket.disconnect":
                return None
            if raw.get("bytes") is not None:
                raise SocketClosed(UNSUPPORTED_DATA, "binary messages are not part of this protocol: send JSON text",
                                   "invalid_message")
            text = raw.get("text") or ""
            if len(text) > self.state.settings.max_input_chars * 6 + 65536:
                raise SocketClosed(TOO_BIG, f"a message of {len(text)} characters is larger than this server takes "
                                   "(KOKORO_MAX_INPUT_CHARS)", "max_character_limit_exceeded")
            try:
                data = json.loads(text)
            except ValueError:
                raise SocketClosed(INVALID_PAYLOAD, "a message is not valid JSON", "invalid_message") from None
            if not isinstance(data, dict):
                raise SocketClosed(INVALID_PAYLOAD, "a message must be a JSON object", "invalid_message")
            try:
                return SocketMessage.model_validate(data)
            except ValidationError as exc:
                raise SocketClosed(INVALID_PAYLOAD, f"invalid message: {_first_error(exc)}",
                                   "invalid_message") from None

    async def _handle(self, message: SocketMessage) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("session %s: %s", self.session_id, message.model_dump(exclude_none=True, exclude={
                "xi_api_key", "xi_api_key_underscored", "authorization"}))
        if not self.authenticated:
            if not key_accepted(self.state.settings.api_keys, message.api_key()):
                given = message.api_key() is not None
                raise SocketClosed(POLICY, "the API key is not valid" if given else
                                   "an API key is required: send the xi-api-key header (or query parameter, or in "
                                   "the first message)", "invalid_api_key")
            self.authenticated = True
        if message.close_socket:  # contexts that were flushed finish first
            self.closing = True
            for context in list(self.contexts.values()):
                if not context.closing:
                    await self._close_context(context)
            return
        context_id = (message.context_id or "default") if self.multi else "default"
        context = self.contexts.get(context_id)
        if message.close_context:
            if context is not None and not _done(context):
                await self._close_context(context)
            return
        text = message.text
        if self.multi and text == "" and not message.flush:
            return  # a keep-alive (with or without a context id): it only resets the inactivity clock
        if context is None or (_done(context) and (text or message.flush)):  # an id may be used again
            if text is None and not message.flush:
                return  # nothing for a context that does not exist
            context = await self._open(context_id, message)
        if text is None and not message.flush:
            return
        if text == "" and not message.flush:  # stream-input: the end of the input
            self.closing = True
            self._finish(context)
            return
        if text:
            self._append(context, text, trigger=bool(message.try_trigger_generation))
        if message.flush:
            context.flushed = True
            context.live.flush()

    # -- contexts ----------------------------------------------------------------------------
    async def _open(self, context_id: str, first: SocketMessage) -> Context:
        if len(self.contexts) >= self.state.settings.live_contexts:
            raise SocketClosed(POLICY, f"Maximum simultaneous contexts per WebSocket connection exceeded "
                               f"({self.state.settings.live_contexts}). Please close an existing context before "
                               "opening a new one (KOKORO_LIVE_CONTEXTS).", "max_active_conversations")
        options = live_options(self.state, self.voice_id, model_id=self.query.model_id,
                               language_code=self.query.language_code, voice_settings=first.voice_settings,
                               text_normalization=self.query.apply_text_normalization)
        fmt = get_output_format(self.query.output_format)
        live = LiveSpeech(self.state.sessions, fmt, options, request_id=f"el-{self.session_id}-{self.opened}")
        try:
            await live.open()
        except KokoroError as exc:
            if not self.multi:
                raise
            await self._send(socket_error(error_status(exc), exc.message, POLICY, context_id))
            raise SocketClosed(POLICY, exc.message, None) from None
        schedule = (first.generation_config.schedule() if first.generation_config else None) or DEFAULT_SCHEDULE
        context = Context(context_id, context_id if self.multi else None, live, schedule)
        context.task = asyncio.create_task(self._speak(context), name=f"elevenlabs-context-{context_id}")
        self.contexts[context_id] = context
        self.opened += 1
        return context

    def _append(self, context: Context, text: str, *, trigger: bool) -> None:
        live = context.live
        settings = self.state.settings
        if context.closing or live.finished:
            return  # text after the end of a context is dropped (ElevenLabs ignores it too)
        if len(live.text) + len(text) > settings.max_input_chars:
            raise SocketClosed(TOO_BIG, f"the context's text would be {len(live.text) + len(text)} characters; the "
                               f"limit is {settings.max_input_chars} (KOKORO_MAX_INPUT_CHARS)",
                               "max_character_limit_exceeded")
        if live.waiting_chars + len(text) > settings.live_buffered_chars:
            raise SocketClosed(TOO_BIG, f"{live.waiting_chars + len(text)} characters would wait for synthesis on one "
                               f"context; the limit is {settings.live_buffered_chars} (KOKORO_LIVE_BUFFERED_CHARS)",
                               "buffer_limit_exceeded")
        context.flushed = False
        text = inline_markup(text)
        if self.query.auto_mode and live.text and not live.text[-1].isspace() and not text[:1].isspace():
            text = " " + text  # auto_mode: each message is a phrase of its own (Pipecat sends no spaces between)
        live.append(text)
        if self.query.auto_mode:
            if context.quiet is not None:
                context.quiet.cancel()
            if text.rstrip()[-1:] in PHRASE_END:
                live.flush()
            else:
                context.quiet = asyncio.get_running_loop().call_later(AUTO_QUIET_S, live.settle)
            return
        schedule = context.schedule[min(context.cuts, len(context.schedule) - 1)]
        waiting = live.waiting_chars
        if trigger:
            live.start_now(MIN_SCHEDULE)
        elif waiting >= schedule:
            live.start_now(schedule)
        if live.waiting_chars < waiting:
            context.cuts += 1

    def _finish(self, context: Context) -> None:
        context.closing = True
        if context.quiet is not None:
            context.quiet.cancel()
        context.live.finish()

    async def _close_context(self, context: Context) -> None:
        """After a flush (nothing sent since): what was flushed is finished. Otherwise, or asked
        twice: a barge-in, stopped at once."""
        if context.flushed and not context.closing and not context.live.finished:
            self._finish(context)
            return
        await self._stop(context)

    async def _stop(self, context: Context) -> None:
        context.closing = True
        if context.quiet is not None:
            context.quiet.cancel()
        if context.task is not None and not context.task.done():
            await stop_task(context.task)
            await self._send(self._final(context))

    async def _stop_all(self) -> None:
        for context in list(self.contexts.values()):
            context.closing = True
            if context.quiet is not None:
                context.quiet.cancel()
            if context.task is not None and not context.task.done():
                context.task.cancel()
        tasks = [c.task for c in self.contexts.values() if c.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _speaking(self) -> bool:
        """Some context has audio to make or send (a context waiting for text is idle)."""
        return any(not _done(c) and (c.live.busy or c.live.finished) for c in self.contexts.values())

    # -- audio out ---------------------------------------------------------------------------
    async def _speak(self, context: Context) -> None:
        """Send a context's chunks as they are synthesized, then isFinal; then let the context go
        (and close the socket if it was the last one of a closing socket)."""
        try:
            await self._send_chunks(context)
            await self._send(self._final(context))
        except asyncio.CancelledError:
            raise
        except KokoroError as exc:  # e.g. the queue is full, a voice in the markup is unknown, over the budget
            code = TRY_LATER if exc.status_code == 429 else TOO_BIG if isinstance(exc, InputTooLongError) else POLICY
            await self._send(socket_error(error_status(exc), exc.message, code, context.id))
            if not self.multi:
                await self._end(SocketClosed(code, exc.message, None))
                return
            await self._send(self._final(context))
        except Exception:
            log.exception("ElevenLabs WebSocket session %s: context %s failed", self.session_id, context.id)
            await self._end(SocketClosed(INTERNAL, "internal error (logged on the server)", "internal_error"))
            return
        finally:
            if self.contexts.get(context.key) is context:
                del self.contexts[context.key]
        if self.closing and not self.contexts:
            await self._end(SocketClosed(NORMAL, "done", None))

    async def _send_chunks(self, context: Context) -> None:
        """Each chunk as answers. Times count from the start of each answer's audio, as ElevenLabs
        documents them (and Pipecat reads them); with ``sync_alignment=true`` from the start of the
        context's audio, the clock LiveKit's plugin reads them on (it asks for sync_alignment)."""
        live, aligner, clock = context.live, Aligner(), 0.0
        async with aclosing(live.chunks()) as chunks:
            async for chunk in chunks:
                await self._send_chunk(context, aligner, chunk, clock)
                clock += chunk.seconds

    async def _send_chunk(self, context: Context, aligner: Aligner, chunk: SpokenChunk, clock: float) -> None:
        """One chunk's answers (its audio in slices, its alignment with the first), ``clock`` seconds
        into the context's audio."""
        live = context.live
        answer: dict[str, Any] = {"audio": None, "isFinal": None, "normalizedAlignment": None, "alignment": None}
        if chunk.final:
            rest = aligner.rest(live.spoken_text)
            aligned = (rest, Alignment([], [], [])) if rest is not None else None
        else:
            aligned = aligner.chunk(live.spoken_text, chunk)
        if aligned is not None:
            shift = clock if self.query.sync_alignment else 0.0
            original, spoken = (a.shifted(shift) for a in aligned)
            answer["alignment"] = socket_alignment(*_fields(original))
            answer["normalizedAlignment"] = socket_alignment(*_fields(spoken))
        if context.id is not None:
            answer["contextId"] = context.id
        if not chunk.data and aligned is None:
            return
        for piece in _slices(chunk.data, live.format.bytes_per_second):
            answer["audio"] = base64.b64encode(piece).decode() if piece else None
            await self._send(answer)
            answer.update(alignment=None, normalizedAlignment=None)  # all of it came with the first

    @staticmethod
    def _final(context: Context) -> dict[str, Any]:
        answer: dict[str, Any] = {"isFinal": True}
        if context.id is not None:
            answer["contextId"] = context.id
        return answer

    async def _send(self, answer: dict[str, Any]) -> None:
        if self.websocket.application_state != WebSocketState.CONNECTED:
            return
        async with self._send_lock:
            try:
                await asyncio.wait_for(self.websocket.send_text(json.dumps(answer)), SEND_TIMEOUT_S)
            except (asyncio.TimeoutError, RuntimeError, WebSocketDisconnect, OSError):
                pass

    async def _end(self, closed: SocketClosed) -> None:
        """Say why (if there is an error) and close."""
        if self.websocket.application_state != WebSocketState.CONNECTED:
            return
        if closed.error is not None:
            await self._send(socket_error(closed.error, closed.reason, closed.code))
            log.info("ElevenLabs WebSocket session %s closed (%d): %s", self.session_id, closed.code, closed.reason)
        try:
            await self.websocket.close(closed.code, closed.reason[:120])
        except (RuntimeError, OSError):
            pass


def _slices(data: bytes, raw_rate: int | None) -> list[bytes]:
    """A chunk's audio in answers of at most MAX_AUDIO_BYTES (raw audio cut between samples)."""
    if len(data) <= MAX_AUDIO_BYTES:
        return [data]
    step = MAX_AUDIO_BYTES - MAX_AUDIO_BYTES % 2 if raw_rate else MAX_AUDIO_BYTES
    return [data[k:k + step] for k in range(0, len(data), step)]


def _done(context: Context) -> bool:
    return context.task is None or context.task.done()


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "message"
    return f"{where}: {first.get('msg', 'invalid')}"
