"""Voice agents use kokoro-server as their streaming TTS by changing only a URL: LiveKit's
``livekit-plugins-elevenlabs``, Pipecat's ``ElevenLabsTTSService``, the ``elevenlabs`` SDK and
``wyoming``'s own client, each unchanged, on one real server (real model, real voices). Their audio
is transcribed by Whisper; alignments give the text back; a barge-in stops synthesis within one
chunk (counted on the server); bad messages get an error and a close, never a 5xx or a stuck slot.

Pipecat's client gives up on a context with no audio after ``stop_frame_timeout_s`` (3 s), LiveKit's
after 10 s between answers (``conn_options``): those client settings are raised, since this machine
may be shared while the suite runs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import websockets

from kokoro_server.settings import Settings
from tests.support.audio import assert_speech_like, decode
from tests.support.server import ServerThread, writable_data_dir
from tests.support.whisper import word_errors, words

KEY = "agent-key"
TEXT = "Sure! The capital of France is Paris, which is known for the Eiffel Tower and good food."
LONG = " ".join(f"Sentence number {n} is here, and it keeps going for a while before it ends." for n in range(1, 9))
MAX_CHARS = 4000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(data_dir: Path, model_file: Path, tmp_path_factory: pytest.TempPathFactory):
    root = writable_data_dir(tmp_path_factory.mktemp("agents-data"), data_dir)
    settings = Settings(data_dir=root, threads=2, concurrency=1, queue_size=8, api_keys=[KEY], preload=["v1_0"],
                        max_input_chars=MAX_CHARS, live_contexts=3, live_buffered_chars=2000,
                        wyoming_port=free_port(), wyoming_host="127.0.0.1")
    running = ServerThread(settings).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def ws_url(server: ServerThread) -> str:
    return server.url.replace("http://", "ws://")


def heard_ok(transcriber, audio: np.ndarray, text: str, *, rate: int = 24_000, tolerance: int = 2) -> None:
    if rate != 24_000:
        audio = np.interp(np.arange(0, len(audio), rate / 24_000), np.arange(len(audio)), audio).astype(np.float32)
    heard = transcriber(audio)
    reference = words(text.replace("Sentence number", "sentence number"))
    assert word_errors(reference, words(heard)) <= tolerance, f"heard {heard!r} for {text!r}"


def pcm(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def idle(server: ServerThread) -> None:
    """Nothing left running or queued, no connection left open (no stuck slot)."""
    runner = server.serving.runner
    deadline = time.monotonic() + 30
    while (runner.running or runner.waiting or server.serving.connections.open) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (runner.running, runner.waiting, server.serving.connections.open) == (0, 0, 0)


# -- LiveKit ----------------------------------------------------------------------------------

def test_livekit_streams_word_by_word_with_aligned_words(server: ServerThread, transcriber) -> None:
    import aiohttp
    from livekit.agents import APIConnectOptions
    from livekit.agents.types import USERDATA_TIMED_TRANSCRIPT
    from livekit.plugins import elevenlabs

    async def run() -> tuple[bytes, str, bytes]:
        async with aiohttp.ClientSession() as session:
            tts = elevenlabs.TTS(base_url=server.url + "/v1", api_key=KEY, voice_id="af_heart",
                                 encoding="pcm_24000", http_session=session)
            patient = APIConnectOptions(timeout=120)  # not 10 s between answers: the machine may be shared
            stream = tts.stream(conn_options=patient)

            async def feed() -> None:
                for word in TEXT.split(" "):
                    stream.push_text(word + " ")
                    await asyncio.sleep(0.03)
                stream.end_input()

            feeding = asyncio.create_task(feed())
            audio, said, starts = bytearray(), [], []
            async for event in stream:
                audio += event.frame.data.tobytes()
                for timed in event.frame.userdata.get(USERDATA_TIMED_TRANSCRIPT, []):
                    said.append(str(timed))
                    starts.append(timed.start_time)
            await feeding
            whole = bytearray()
            async for event in tts.synthesize("Hello from the chunked endpoint.", conn_options=patient):
                whole += event.frame.data.tobytes()
            await tts.aclose()
            assert starts == sorted(starts) and starts[-1] > 1.0  # on the context's clock (sync_alignment)
            return bytes(audio), "".join(said), bytes(whole)

    audio, said, whole = asyncio.run(run())
    assert_speech_like(pcm(audio), min_seconds=3.0, max_seconds=12.0)
    heard_ok(transcriber, pcm(audio), TEXT)
    assert " ".join(said.split()) == TEXT  # LiveKit's aligned transcript (normalizedAlignment) is the text
    assert_speech_like(pcm(whole), min_seconds=1.0, max_seconds=5.0)
    idle(server)


# -- Pipecat ----------------------------------------------------------------------------------

def test_pipecat_pipeline_speaks_an_llm_answer_with_word_timestamps(server: ServerThread, ws_url: str,
                                                                    transcriber) -> None:
    from pipecat.frames.frames import (EndFrame, ErrorFrame, LLMFullResponseEndFrame, LLMFullResponseStartFrame,
                                       LLMTextFrame, TTSAudioRawFrame, TTSTextFrame)
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.runner import PipelineRunner
    from pipecat.pipeline.task import PipelineParams, PipelineTask
    from pipecat.processors.frame_processor import FrameProcessor
    from pipecat.services.elevenlabs.tts import ElevenLabsTTSService

    class Collector(FrameProcessor):
        def __init__(self) -> None:
            super().__init__()
            self.audio, self.words, self.errors = bytearray(), [], []

        async def process_frame(self, frame, direction) -> None:  # type: ignore[no-untyped-def]
            await super().process_frame(frame, direction)
            if isinstance(frame, TTSAudioRawFrame):
                self.audio += frame.audio
            elif isinstance(frame, TTSTextFrame):
                self.words.append(frame.text)
            elif isinstance(frame, ErrorFrame):
                self.errors.append(frame.error)
            await self.push_frame(frame, direction)

    async def run() -> Collector:
        tts = ElevenLabsTTSService(api_key=KEY, url=ws_url, sample_rate=24_000, stop_frame_timeout_s=30,
                                   settings=ElevenLabsTTSService.Settings(voice="af_heart"))
        collector = Collector()
        task = PipelineTask(Pipeline([tts, collector]), params=PipelineParams(audio_out_sample_rate=24_000))
        tokens = [LLMTextFrame(word + " ") for word in TEXT.split(" ")]
        await task.queue_frames([LLMFullResponseStartFrame(), *tokens, LLMFullResponseEndFrame(), EndFrame()])
        await asyncio.wait_for(PipelineRunner(handle_sigint=False).run(task), 240)
        return collector

    collector = asyncio.run(run())
    assert not collector.errors
    heard_ok(transcriber, pcm(bytes(collector.audio)), TEXT)
    assert collector.words == TEXT.split(" ")  # from our alignment, word by word
    idle(server)


# -- the elevenlabs SDK -----------------------------------------------------------------------

def test_elevenlabs_sdk_rest_websocket_and_voices(server: ServerThread, transcriber) -> None:
    from elevenlabs.client import ElevenLabs

    client = ElevenLabs(api_key=KEY, base_url=server.url)
    audio = b"".join(client.text_to_speech.convert("af_heart", text=TEXT, output_format="pcm_16000"))
    heard_ok(transcriber, pcm(audio), TEXT, rate=16_000)

    timed = client.text_to_speech.convert_with_timestamps("af_heart", text="It costs $12.50, Dr. Smith said.",
                                                         output_format="pcm_24000")
    assert "".join(timed.alignment.characters) == "It costs $12.50, Dr. Smith said."
    assert "twelve dollars and fifty cents" in "".join(timed.normalized_alignment.characters)
    starts = timed.alignment.character_start_times_seconds
    assert starts == sorted(starts) and timed.alignment.character_end_times_seconds[-1] <= \
        len(base64.b64decode(timed.audio_base_64)) / 48_000 + 0.01

    streamed = b"".join(client.text_to_speech.stream("af_heart", text="A streamed answer.",
                                                     output_format="mp3_44100_128"))
    assert_speech_like(decode(streamed)[0], min_seconds=0.8, max_seconds=4.0)
    chunks = list(client.text_to_speech.stream_with_timestamps("af_heart", text="Two parts, one stream."))
    assert "".join(c for chunk in chunks if chunk.alignment for c in chunk.alignment.characters) == \
        "Two parts, one stream."

    voices = client.voices.get_all().voices
    assert {"af_heart", "v0_19/af_bella"} <= {v.voice_id for v in voices}
    idle(server)


def test_elevenlabs_sdk_realtime_websocket_over_tls(server: ServerThread, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's WebSocket helper always connects with wss://: the same server behind TLS."""
    from elevenlabs.client import ElevenLabs

    from tests.support.tls import self_signed, tls_front

    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts our certificate, nothing else changes
    with tls_front(server.app, cert, key) as url:
        client = ElevenLabs(api_key=KEY, base_url=url)
        pieces = iter(["Hello ", "from ", "the ", "socket, ", "word ", "by ", "word."])
        audio = b"".join(client.text_to_speech.convert_realtime("af_heart", text=pieces, output_format="pcm_24000"))
    assert_speech_like(pcm(audio), min_seconds=1.0, max_seconds=6.0)
    idle(server)


# -- Wyoming ----------------------------------------------------------------------------------

def test_wyoming_client_describe_synthesize_and_stream(server: ServerThread, transcriber) -> None:
    from wyoming.audio import AudioChunk, AudioStop
    from wyoming.client import AsyncTcpClient
    from wyoming.info import Describe, Info
    from wyoming.tts import (Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped,
                             SynthesizeVoice)

    port = server.serving.settings.wyoming_port

    async def collect(client: AsyncTcpClient, until: str) -> tuple[list[str], bytes]:
        types, audio = [], bytearray()
        while True:
            event = await asyncio.wait_for(client.read_event(), 120)
            assert event is not None
            types.append(event.type)
            if AudioChunk.is_type(event.type):
                chunk = AudioChunk.from_event(event)
                assert (chunk.rate, chunk.width, chunk.channels) == (24_000, 2, 1)
                audio += chunk.audio
            if event.type == until:
                return types, bytes(audio)

    async def run() -> tuple[Info, list[str], bytes, list[str], bytes]:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Describe().event())
            info = Info.from_event(await asyncio.wait_for(client.read_event(), 30))
            await client.write_event(Synthesize(text="Turning on the kitchen lights.",
                                                voice=SynthesizeVoice(name="af_heart")).event())
            once_types, once = await collect(client, AudioStop().event().type)
            # Home Assistant's streaming form, with the compatibility synthesize inside the stream
            await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="bf_emma")).event())
            for word in TEXT.split(" "):
                await client.write_event(SynthesizeChunk(text=word + " ").event())
            await client.write_event(Synthesize(text=TEXT, voice=SynthesizeVoice(name="bf_emma")).event())
            await client.write_event(SynthesizeStop().event())
            stream_types, streamed = await collect(client, SynthesizeStopped().event().type)
            return info, once_types, once, stream_types, streamed

    info, once_types, once, stream_types, streamed = asyncio.run(run())
    voices = {v.name: v for program in info.tts for v in program.voices}
    assert info.tts[0].supports_synthesize_streaming
    assert voices["af_heart"].languages == ["en_US"] and voices["ef_dora"].languages == ["es"]
    assert once_types[0] == "audio-start" and once_types[-1] == "audio-stop"
    heard_ok(transcriber, pcm(once), "Turning on the kitchen lights.", tolerance=1)
    assert stream_types.count("audio-start") == 1 and stream_types[-2:] == ["audio-stop", "synthesize-stopped"]
    heard_ok(transcriber, pcm(streamed), TEXT)

    async def oversized() -> tuple[bytes, bytes]:  # an event that claims a gigabyte of data
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b'{"type": "synthesize", "data_length": 1000000000}\n')
        await writer.drain()
        answer = await asyncio.wait_for(reader.readline(), 30)
        rest = await asyncio.wait_for(reader.read(), 30)  # then the server closes the connection
        writer.close()
        return answer, rest

    answer, _ = asyncio.run(oversized())
    assert json.loads(answer)["type"] == "error"
    idle(server)


# -- the dialect itself: equality with a whole request, barge-in, limits ---------------------

def test_rest_audio_is_the_openai_routes_audio(server: ServerThread) -> None:
    """The same text in one request: the same chunks, the same samples, as /v1/audio/speech."""
    headers = {"xi-api-key": KEY}
    ours = httpx.post(server.url + "/v1/text-to-speech/af_heart?output_format=pcm_24000", headers=headers,
                      json={"text": LONG[:160], "model_id": "eleven_flash_v2_5"}, timeout=120)
    openai = httpx.post(server.url + "/v1/audio/speech", headers={"Authorization": f"Bearer {KEY}"},
                        json={"input": LONG[:160], "voice": "af_heart", "response_format": "pcm"}, timeout=120)
    assert ours.status_code == openai.status_code == 200
    assert ours.content == openai.content
    # an ElevenLabs voice id (a client whose URL alone was changed) speaks with the default voice
    ulaw = httpx.post(server.url + "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM?output_format=ulaw_8000", headers=headers,
                      json={"text": "Telephony."}, timeout=120)
    assert ulaw.headers["content-type"] == "audio/basic" and 0.5 < len(ulaw.content) / 8000 < 3


async def socket_messages(socket: websockets.ClientConnection, until) -> list[dict]:  # type: ignore[no-untyped-def]
    received = []
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 120))
        received.append(message)
        if until(message):
            return received


def test_barge_in_stops_synthesis_within_one_chunk(server: ServerThread, ws_url: str) -> None:
    runner = server.serving.runner
    url = f"{ws_url}/v1/text-to-speech/af_heart/multi-stream-input?output_format=pcm_24000&xi-api-key={KEY}"

    async def run() -> tuple[int, int, list[dict], list[dict]]:
        async with websockets.connect(url) as socket:
            before = runner.totals.chunks
            await socket.send(json.dumps({"text": " ", "context_id": "one"}))
            await socket.send(json.dumps({"text": LONG + " ", "context_id": "one"}))
            await socket_messages(socket, lambda m: bool(m.get("audio")))
            await socket.send(json.dumps({"context_id": "one", "close_context": True}))
            after_close = await socket_messages(socket, lambda m: m.get("isFinal") is True)
            received = 1 + sum(1 for m in after_close if m.get("audio"))
            for _ in range(200):  # anything still synthesizing for it would show up now
                if not runner.running and not runner.waiting:
                    break
                await asyncio.sleep(0.05)
            synthesized = runner.totals.chunks - before
            # the socket goes on: a new context speaks, then the client closes it all
            await socket.send(json.dumps({"text": "Next turn. ", "context_id": "two", "flush": True}))
            await socket.send(json.dumps({"context_id": "two", "close_context": True}))
            second = await socket_messages(socket, lambda m: m.get("isFinal") is True)
            await socket.send(json.dumps({"close_socket": True}))
            await socket.wait_closed()
            return received, synthesized, after_close, second

    received, synthesized, after_close, second = asyncio.run(run())
    assert synthesized <= received + 1, f"{synthesized} chunks synthesized, {received} sent"
    assert received < 6  # LONG is far more than that many chunks
    assert after_close[-1] == {"isFinal": True, "contextId": "one"}
    assert any(m.get("audio") for m in second) and all(m.get("contextId") == "two" for m in second)
    idle(server)


def test_a_finished_sentence_is_spoken_while_the_sender_pauses(server: ServerThread, ws_url: str) -> None:
    """An agent's model stops after a sentence to call a tool: the sentence is spoken without a
    flush or more text (the sender's pause settles it)."""
    url = f"{ws_url}/v1/text-to-speech/af_heart/stream-input?output_format=pcm_24000&xi-api-key={KEY}"

    async def run() -> list[dict]:
        async with websockets.connect(url) as socket:
            await socket.send(json.dumps({"text": " "}))
            for word in ("Let ", "me ", "look ", "that ", "up."):
                await socket.send(json.dumps({"text": word}))
            before_end = await socket_messages(socket, lambda m: bool(m.get("audio")))
            await socket.send(json.dumps({"text": ""}))
            await socket_messages(socket, lambda m: m.get("isFinal") is True)
            return before_end

    before_end = asyncio.run(run())
    assert "".join(before_end[-1]["alignment"]["chars"]).strip() == "Let me look that up."


def test_streamed_alignment_gives_the_text_back(server: ServerThread, ws_url: str) -> None:
    """stream-input, word by word with a length schedule: every character sent comes back once, in
    order, with times inside its answer's audio; the socket closes normally after isFinal."""
    url = f"{ws_url}/v1/text-to-speech/bf_emma/stream-input?output_format=mp3_22050_32"
    sent = " " + "".join(w + " " for w in TEXT.split(" ")) + "[pause:0.2s] Done."

    async def run() -> tuple[list[dict], int | None]:
        async with websockets.connect(url, additional_headers={"xi-api-key": KEY}) as socket:
            await socket.send(json.dumps({"text": " ", "voice_settings": {"speed": 1.1, "stability": 0.5},
                                          "generation_config": {"chunk_length_schedule": [50, 90]}}))
            for word in TEXT.split(" "):
                await socket.send(json.dumps({"text": word + " ", "try_trigger_generation": True}))
            await socket.send(json.dumps({"text": "[pause:0.2s] Done."}))
            await socket.send(json.dumps({"text": ""}))
            messages = await socket_messages(socket, lambda m: m.get("isFinal") is True)
            await socket.wait_closed()
            return messages, socket.close_code

    messages, code = asyncio.run(run())
    assert code == 1000
    chars = [c for m in messages if m.get("alignment") for c in m["alignment"]["chars"]]
    assert "".join(chars) == sent
    for m in messages:
        if m.get("alignment"):
            a = m["alignment"]
            assert len(a["chars"]) == len(a["charStartTimesMs"]) == len(a["charDurationsMs"])
            assert a["charStartTimesMs"] == sorted(a["charStartTimesMs"]) and min(a["charDurationsMs"]) >= 0
    audio = b"".join(base64.b64decode(m["audio"]) for m in messages if m.get("audio"))
    assert_speech_like(decode(audio)[0], min_seconds=3.0, max_seconds=12.0)


def test_bad_messages_get_an_error_and_a_close(server: ServerThread, ws_url: str) -> None:
    base = f"{ws_url}/v1/text-to-speech/af_heart"

    async def closed_with(path: str, *messages: str | bytes, headers: dict | None = None) -> tuple[int, dict | None]:
        async with websockets.connect(base + path, additional_headers=headers or {"xi-api-key": KEY},
                                      max_size=None) as socket:
            error = None
            try:
                for message in messages:
                    await socket.send(message)
            except websockets.ConnectionClosed:  # refused before all was sent (a wrong key)
                pass
            try:
                while True:
                    answer = json.loads(await asyncio.wait_for(socket.recv(), 60))
                    if "error" in answer:
                        error = answer
            except websockets.ConnectionClosed:
                pass
            return socket.close_code, error

    async def run() -> dict[str, tuple[int, dict | None]]:
        big = json.dumps({"text": "a" * (1 << 20)})
        return {
            "not json": await closed_with("/stream-input", "{not json"),
            "wrong type": await closed_with("/stream-input", json.dumps({"text": 5})),
            "binary": await closed_with("/stream-input", b"\x00\x01"),
            "1 MB piece": await closed_with("/stream-input", json.dumps({"text": " "}), big),
            "never sends": await closed_with("/multi-stream-input?inactivity_timeout=1"),
            "too many contexts": await closed_with("/multi-stream-input", *(json.dumps(
                {"text": "Hold on ", "context_id": f"c{n}"}) for n in range(4))),
            "wrong key": await closed_with("/stream-input", json.dumps({"text": " "}), headers={"xi-api-key": "no"}),
            "no key": await closed_with("/stream-input", json.dumps({"text": " "}), headers={}),
            "unknown voice": await closed_with_voice(ws_url),
            "bad format": await closed_with("/stream-input?output_format=wav_99", json.dumps({"text": " "})),
        }

    async def closed_with_voice(url: str) -> tuple[int, dict | None]:
        async with websockets.connect(f"{url}/v1/text-to-speech/nobody/stream-input",
                                      additional_headers={"xi-api-key": KEY}) as socket:
            await socket.send(json.dumps({"text": " "}))
            answer = json.loads(await asyncio.wait_for(socket.recv(), 60))
            await socket.wait_closed()
            return socket.close_code, answer

    results = asyncio.run(run())
    expected = {"not json": 1007, "wrong type": 1007, "binary": 1003, "1 MB piece": 1009, "never sends": 1008,
                "too many contexts": 1008, "wrong key": 1008, "no key": 1008, "unknown voice": 1008,
                "bad format": 1008}
    assert {name: code for name, (code, _) in results.items()} == expected
    for name, (_, error) in results.items():
        assert error is not None and error["message"] and error["error"], name
    assert results["too many contexts"][1]["error"] == "max_active_conversations"
    assert results["never sends"][1]["error"] == "input_timeout_exceeded"
    idle(server)


def test_a_stream_past_the_audio_budget_is_refused_as_its_text_arrives(server: ServerThread, ws_url: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """KOKORO_MAX_AUDIO_SECONDS bounds a stream as it bounds one request. An agent that keeps talking
    on one context is refused at the text that takes it past the budget, as that text arrives (the
    audio it got before stays): ElevenLabs' error names the setting and the socket closes 1009. A
    Wyoming stream ends with an error event; a REST request is refused (413) before any audio."""
    monkeypatch.setattr(server.serving.service.settings, "max_audio_seconds", 20)  # about four of these sentences
    sentences = [f"Sentence number {n} is here, and it keeps going for a while before it ends. " for n in range(1, 9)]
    url = f"{ws_url}/v1/text-to-speech/af_heart/stream-input?output_format=pcm_24000&xi-api-key={KEY}"

    async def talk_on() -> tuple[list[dict], int | None, str | None]:
        async with websockets.connect(url) as socket:
            await socket.send(json.dumps({"text": " "}))
            await socket.send(json.dumps({"text": sentences[0] + "Then "}))
            received = await socket_messages(socket, lambda m: bool(m.get("audio")))  # the first is spoken
            try:
                for sentence in sentences[1:]:
                    await socket.send(json.dumps({"text": sentence}))
                await socket.send(json.dumps({"text": ""}))
            except websockets.ConnectionClosed:
                pass
            try:
                while True:
                    received.append(json.loads(await asyncio.wait_for(socket.recv(), 120)))
            except websockets.ConnectionClosed:
                pass
            return received, socket.close_code, socket.close_reason

    received, code, reason = asyncio.run(talk_on())
    errors = [m for m in received if "error" in m]
    assert code == 1009 and reason and "KOKORO_MAX_AUDIO_SECONDS" in reason
    assert len(errors) == 1 and errors[0]["error"] == "audio_too_long"
    assert "the limit is 20 s (KOKORO_MAX_AUDIO_SECONDS)" in errors[0]["message"]
    spoken = sum(len(base64.b64decode(m["audio"])) for m in received if m.get("audio")) / 48_000
    assert 0.5 < spoken < 20

    from wyoming.client import AsyncTcpClient
    from wyoming.error import Error
    from wyoming.tts import SynthesizeChunk, SynthesizeStart, SynthesizeVoice

    async def home_assistant() -> tuple[list[str], Error]:
        async with AsyncTcpClient("127.0.0.1", server.serving.settings.wyoming_port) as client:
            await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="af_heart")).event())
            for sentence in sentences:
                await client.write_event(SynthesizeChunk(text=sentence).event())
            types = []
            while True:
                event = await asyncio.wait_for(client.read_event(), 120)
                assert event is not None
                types.append(event.type)
                if Error.is_type(event.type):
                    return types, Error.from_event(event)

    types, error = asyncio.run(home_assistant())
    assert "KOKORO_MAX_AUDIO_SECONDS" in error.text and error.code == "audio_too_long"
    rest = httpx.post(server.url + "/v1/text-to-speech/af_heart", headers={"xi-api-key": KEY},
                      json={"text": "".join(sentences)}, timeout=120)
    assert rest.status_code == 413 and rest.json()["detail"]["status"] == "audio_too_long"
    assert "KOKORO_MAX_AUDIO_SECONDS" in rest.json()["detail"]["message"]
    idle(server)


def test_a_phrase_a_pause_settles_past_the_budget_ends_the_audio_with_the_error(service, tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A sender that stops after a phrase has it cut by a timer, with nobody waiting on a call to be
    told of a refusal: past the budget, the stream's audio ends with the error instead."""
    from kokoro_server.audio.encoders import get_output_format
    from kokoro_server.errors import AudioTooLongError
    from kokoro_server.serving.live_speech import LiveOptions, LiveSpeech
    from kokoro_server.serving.runner import SynthesisRunner
    from kokoro_server.serving.session import Sessions

    monkeypatch.setattr(service.settings, "max_audio_seconds", 3)

    async def run() -> int:
        runner = SynthesisRunner(service, concurrency=1, queue_size=0)
        live = LiveSpeech(Sessions(service, runner, spool_folders=[tmp_path]), get_output_format("pcm_24000"),
                          LiveOptions(voice="af_heart"), request_id="settled")
        await live.open()
        live.append("This one sentence takes a good deal longer than three seconds to say.")  # no word after it
        try:
            with pytest.raises(AudioTooLongError, match="KOKORO_MAX_AUDIO_SECONDS"):
                async for _ in live.chunks():
                    pass
        finally:
            runner.close()
        return runner.totals.admitted

    assert asyncio.run(run()) == 0  # refused before anything was synthesized


def test_websockets_from_another_site_are_refused(server: ServerThread, ws_url: str) -> None:
    async def connect(origin: str) -> int | None:
        url = f"{ws_url}/v1/text-to-speech/af_heart/stream-input?xi-api-key={KEY}"
        try:
            async with websockets.connect(url, origin=origin) as socket:  # type: ignore[arg-type]
                await socket.send(json.dumps({"text": ""}))
                await socket.wait_closed()
                return None
        except websockets.InvalidStatus as refused:
            return refused.response.status_code

    assert asyncio.run(connect("http://evil.example")) == 403
    assert asyncio.run(connect(server.url)) is None  # a page of this server may

    def handshake(host: str) -> bytes:  # a raw upgrade request, as a page rebound to 127.0.0.1 sends it
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw:
            raw.sendall(f"GET /v1/text-to-speech/af_heart/stream-input HTTP/1.1\r\nHost: {host}\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode())
            return raw.recv(64).split()[1]

    assert handshake("evil.example") == b"403"  # the Host check covers WebSockets too
    assert handshake(f"127.0.0.1:{server.port}") == b"101"


def test_rest_errors_are_elevenlabs_shaped(server: ServerThread) -> None:
    url = server.url + "/v1/text-to-speech/af_heart"
    no_key = httpx.post(url, json={"text": "x"})
    assert no_key.status_code == 401 and no_key.json()["detail"]["status"] == "invalid_api_key"
    for body, status in (({"text": 5}, 400), ({"text": "x" * (MAX_CHARS + 1)}, 413), ({"text": "x"}, 400)):
        path = url + ("?output_format=wav_99" if status == 400 and body == {"text": "x"} else "")
        answer = httpx.post(path, json=body, headers={"xi-api-key": KEY}, timeout=60)
        assert answer.status_code == status and set(answer.json()["detail"]) == {"status", "message"}, answer.text
    unknown = httpx.post(server.url + "/v1/text-to-speech/nobody/stream", json={"text": "x"},
                         headers={"xi-api-key": KEY})
    assert unknown.status_code < 500 and unknown.json()["detail"]["status"] == "voice_not_found"


def test_serve_takes_a_wyoming_port_and_it_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from kokoro_server.cli import build_parser
    from kokoro_server.api.serve import server_settings

    monkeypatch.delenv("KOKORO_WYOMING_PORT", raising=False)
    assert server_settings(build_parser().parse_args(["serve"])).wyoming_port is None
    assert server_settings(build_parser().parse_args(["serve", "--wyoming-port", "10200"])).wyoming_port == 10200
    monkeypatch.setenv("KOKORO_WYOMING_PORT", "10300")
    assert server_settings(build_parser().parse_args(["serve"])).wyoming_port == 10300


def test_every_output_format_encodes_at_its_rate_without_losing_time() -> None:
    """ElevenLabs' output formats, resampled by FFmpeg's resampler: the same duration in each."""
    import io

    import av

    from kokoro_server.audio.encoders import OUTPUT_FORMATS, StreamingEncoder

    tone = (0.5 * np.sin(np.arange(36_000) * 2 * np.pi * 440 / 24_000)).astype(np.float32)
    for name, fmt in OUTPUT_FORMATS.items():
        encoder = StreamingEncoder(fmt)
        data = b"".join(encoder.encode(tone[k:k + 5000]) for k in range(0, len(tone), 5000)) + encoder.finish()
        if fmt.bytes_per_second:
            seconds = len(data) / fmt.bytes_per_second
        else:
            with av.open(io.BytesIO(data)) as container:
                stream = container.streams.audio[0]
                assert stream.rate == fmt.sample_rate, name
                seconds = sum(frame.samples for frame in container.decode(stream)) / stream.rate
        assert 1.5 <= seconds <= 1.5 + 0.07, f"{name}: {seconds:.3f} s for 1.5 s"


def test_dialect_fields_map_to_ours() -> None:
    from kokoro_server.api.elevenlabs.protocol import inline_markup, kokoro_language, kokoro_model, kokoro_voice
    from kokoro_server.builds import get_build

    build = get_build("v1_0")
    assert kokoro_language("es", "af_heart", build) == "e" and kokoro_language("en", "bf_emma", build) is None
    assert kokoro_language("ja", "af_heart", build) == "j" and kokoro_language(None, "af_heart", build) is None
    assert kokoro_model("eleven_flash_v2_5") is None and kokoro_model("kokoro-v0_19") == "kokoro-v0_19"
    assert kokoro_voice("21m00Tcm4TlvDq8ikWAM") is None
    assert kokoro_voice("af_bella(2)+af_sky(1)") == "af_bella(2)+af_sky(1)"
    assert inline_markup('Wait <break time="1.5s" /> then <phoneme alphabet="ipa" ph="x">Metformin</phoneme>.') == \
        "Wait [pause:1.5s] then Metformin."


def test_alignment_covers_the_text_once_on_the_audio_clock() -> None:
    """Every character once, in order; a word's characters share its time; what follows the last
    word runs to the end of the chunk's audio (pause included)."""
    from kokoro_server.api.elevenlabs.alignment import Aligner
    from kokoro_server.serving.live_speech import Spoken, SpokenChunk
    from kokoro_server.timestamps import WordTime

    text = " It costs $5, really. Next"
    first = SpokenChunk(b"", 24_000, (WordTime("It", 0.1, 0.2, 1, 3), WordTime("costs", 0.2, 0.5, 4, 9),
                                      WordTime("$5", 0.5, 0.8, 10, 12)),
                        (Spoken("It", 1, 3), Spoken("costs", 4, 9), Spoken("five", 10, 12), Spoken("dollars,", 10, 13)),
                        part_end=13)
    second = SpokenChunk(b"", 12_000, (WordTime("really", 0.05, 0.3, 14, 20),), (Spoken("really.", 14, 21),),
                         part_end=21)
    aligner = Aligner()
    original, spoken = aligner.chunk(text, first)
    assert "".join(original.chars) == " It costs $5," and original.ends[-1] == 1.0  # the part ends at its mark
    assert original.starts == sorted(original.starts) and original.starts[1] == 0.1  # "I" starts with its word
    assert "".join(spoken.chars) == "It costs five dollars, " and spoken.ends[-1] == 1.0
    later, _ = aligner.chunk(text, second)
    rest = aligner.rest(text)
    assert "".join(later.chars) == " really." and "".join(rest.chars) == " Next"
    assert "".join(original.chars + later.chars + rest.chars) == text
    assert later.ends[-1] == 0.5 and rest.ends == [0.0] * len(rest.chars)
