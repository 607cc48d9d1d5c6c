"""One Wyoming connection: ``describe`` -> ``info``; ``synthesize`` -> ``audio-start``, an
``audio-chunk`` per piece of audio as it is synthesized, ``audio-stop``; and the streaming form Home
Assistant uses with a language model's answer: ``synthesize-start``, ``synthesize-chunk``s (text
cut into phrases as it arrives, see serving/live_speech.py), ``synthesize-stop`` -> the audio, then
``synthesize-stopped``. The ``synthesize`` sent inside a stream (for servers that cannot stream) is
ignored. Voices by name (any voice id or mix), or by language; the speaker is ignored. Audio is
16-bit mono PCM at 24 kHz. A closed connection stops its synthesis.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from contextlib import aclosing

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, TtsProgram, TtsVoice
from wyoming.server import AsyncEventHandler
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped, SynthesizeVoice

from kokoro_server import SAMPLE_RATE, __version__
from kokoro_server.api.state import Serving
from kokoro_server.audio.encoders import OUTPUT_FORMATS
from kokoro_server.builds import BUILDS
from kokoro_server.errors import InputTooLongError, KokoroError
from kokoro_server.serving.live_speech import LiveOptions, LiveSpeech, stop_task

log = logging.getLogger("kokoro_server.wyoming")

PCM = OUTPUT_FORMATS[f"pcm_{SAMPLE_RATE}"]
SAMPLES_PER_CHUNK = 1024  # audio-chunk events of 1024 samples, as Wyoming's own servers send
MAX_HEADER_BYTES = 64 * 1024
MODEL = Attribution(name="hexgrad/Kokoro-82M", url="https://huggingface.co/hexgrad/Kokoro-82M")


def language_tag(tag: str) -> str:
    """``en-us`` -> ``en_US`` (the form Wyoming's voices use)."""
    language, _, region = tag.partition("-")
    return f"{language}_{region.upper()}" if region else language


def describe(state: Serving) -> Info:
    """Every installed voice of every version, with its language."""
    service = state.service
    voices = []
    for build in BUILDS.values():
        for voice in service.voices.list(build):
            language = build.languages.get(voice.language)
            if language is None or not voice.supported:
                continue
            voices.append(TtsVoice(name=service.voice_id(build, voice.name),
                                   description=f"{voice.name} ({voice.language_name}, {voice.gender}, {build.title})",
                                   attribution=MODEL, installed=True, version=build.version,
                                   languages=[language_tag(language.tag)]))
    program = TtsProgram(name="kokoro-server", description="Kokoro-82M text to speech (kokoro-server)",
                         attribution=Attribution(name="kokoro-server", url="https://github.com/hexgrad/kokoro"),
                         installed=True, version=__version__, voices=voices, supports_synthesize_streaming=True)
    return Info(tts=[program])


class SpeechHandler(AsyncEventHandler):
    def __init__(self, state: Serving, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self.state = state
        self.connection = uuid.uuid4().hex[:12]
        self._live: LiveSpeech | None = None
        self._speaking: asyncio.Task[None] | None = None
        self._streaming = False
        self._admitted = state.connections.try_open(state.settings.live_connections)

    async def run(self) -> None:
        """Events until the client leaves; a frame larger than the server takes ends the connection."""
        if not self._admitted:
            await self.write_event(Error(text="too many connections open (KOKORO_LIVE_CONNECTIONS); retry later",
                                         code="busy").event())
            self.writer.close()
            return
        try:
            while True:
                event = await self._read_event()
                if event is None or not await self.handle_event(event):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            await self.disconnect()
            self.writer.close()

    async def _read_event(self) -> Event | None:
        """Wyoming's framing (a JSON line, then its data and payload), with every length bounded."""
        limit = self.state.settings.max_input_chars * 6 + MAX_HEADER_BYTES
        try:
            while True:  # a connection that sends nothing while nothing is spoken is let go
                try:
                    line = await asyncio.wait_for(self.reader.readline(), self.state.settings.live_idle_timeout_s)
                    break
                except asyncio.TimeoutError:
                    if self._speaking is None or self._speaking.done():
                        return None
            if not line:
                return None
            header = json.loads(line)
            if not isinstance(header, dict) or not isinstance(header.get("type"), str):
                raise ValueError("not an event")
            data = header.get("data") or {}
            sizes = [header.get("data_length") or 0, header.get("payload_length") or 0]
            if not all(isinstance(n, int) and 0 <= n <= limit for n in sizes):
                raise ValueError("an event larger than this server takes")
            if sizes[0]:
                data.update(json.loads(await self.reader.readexactly(sizes[0])))
            payload = await self.reader.readexactly(sizes[1]) if sizes[1] else None
            return Event(type=header["type"], data=data, payload=payload)
        except (ValueError, AttributeError) as exc:
            await self.write_event(Error(text=f"invalid event: {exc}", code="invalid_event").event())
            return None

    async def handle_event(self, event: Event) -> bool:
        try:
            if Describe.is_type(event.type):
                await self.write_event((await asyncio.to_thread(describe, self.state)).event())
            elif Synthesize.is_type(event.type):
                if not self._streaming:  # inside a stream it repeats the text for servers that cannot stream
                    synthesize = Synthesize.from_event(event)
                    await self._start(synthesize.voice)
                    self._add(synthesize.text)
                    await self._stop(wait=True, stopped_event=False)
            elif SynthesizeStart.is_type(event.type):
                self._streaming = True
                await self._start(SynthesizeStart.from_event(event).voice)
            elif SynthesizeChunk.is_type(event.type):
                if self._live is not None:
                    self._add(SynthesizeChunk.from_event(event).text)
            elif SynthesizeStop.is_type(event.type):
                self._streaming = False
                await self._stop(wait=True, stopped_event=True)
        except KokoroError as exc:
            await self._cancel()
            await self.write_event(Error(text=exc.message, code=exc.code).event())
        return True

    # -- one synthesis -----------------------------------------------------------------------
    async def _start(self, voice: SynthesizeVoice | None) -> None:
        await self._cancel()
        name = await self._voice(voice)
        live = LiveSpeech(self.state.sessions, PCM, LiveOptions(voice=name), request_id=f"wyoming-{self.connection}")
        await live.open()
        self._live = live
        self._speaking = asyncio.create_task(self._send_audio(live), name="wyoming-speech")

    def _add(self, text: str) -> None:
        live = self._live
        if live is None:
            return
        settings = self.state.settings
        if len(live.text) + len(text) > settings.max_input_chars:
            raise InputTooLongError(f"text is over {settings.max_input_chars} characters (KOKORO_MAX_INPUT_CHARS)",
                                    param="text")
        if live.waiting_chars + len(text) > settings.live_buffered_chars:
            raise InputTooLongError(f"over {settings.live_buffered_chars} characters wait for synthesis "
                                    "(KOKORO_LIVE_BUFFERED_CHARS)", param="text")
        live.append(text, cut=self._streaming)

    async def _stop(self, *, wait: bool, stopped_event: bool) -> None:
        live, task = self._live, self._speaking
        if live is None or task is None:
            if stopped_event:
                await self.write_event(SynthesizeStopped().event())
            return
        live.finish()
        if wait:
            await task
        if stopped_event:
            await self.write_event(SynthesizeStopped().event())

    async def _send_audio(self, live: LiveSpeech) -> None:
        width, started = 2, False
        step = SAMPLES_PER_CHUNK * width
        try:
            async with aclosing(live.chunks()) as chunks:
                async for chunk in chunks:
                    if not started:
                        await self.write_event(AudioStart(rate=SAMPLE_RATE, width=width, channels=1).event())
                        started = True
                    for k in range(0, len(chunk.data), step):
                        await self.write_event(AudioChunk(rate=SAMPLE_RATE, width=width, channels=1,
                                                          audio=chunk.data[k:k + step]).event())
            if not started:
                await self.write_event(AudioStart(rate=SAMPLE_RATE, width=width, channels=1).event())
            await self.write_event(AudioStop().event())
        except KokoroError as exc:
            await self.write_event(Error(text=exc.message, code=exc.code).event())

    async def _voice(self, voice: SynthesizeVoice | None) -> str | None:
        """A voice by name (any id or mix), else the first installed voice of the language asked for,
        else the default voice."""
        if voice is None:
            return None
        if voice.name:
            return voice.name
        if voice.language:
            wanted = voice.language.lower().replace("_", "-")
            info = await asyncio.to_thread(describe, self.state)
            for program in info.tts:
                for candidate in program.voices:
                    if any(lang.lower().replace("_", "-") in (wanted, wanted.split("-")[0]) or
                           lang.lower().replace("_", "-").split("-")[0] == wanted for lang in candidate.languages):
                        return candidate.name
        return None

    async def _cancel(self) -> None:
        task, self._speaking, self._live = self._speaking, None, None
        await stop_task(task)

    async def disconnect(self) -> None:
        await self._cancel()
        if self._admitted:
            self._admitted = False
            self.state.connections.close()
