"""Word timestamps over HTTP on a real server: Kokoro-FastAPI's /dev/captioned_speech (streamed and
whole), the SSE word events through the openai client's raw stream, caption files, kept captions."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from kokoro_server.api.app import create_app
from kokoro_server.settings import Settings
from tests.support.audio import SAMPLE_RATE, decode
from tests.support.server import ServerThread, writable_data_dir

TEXT = "Hello there. The price is $5, paid in full.\n\nThat was the second paragraph."


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    root = writable_data_dir(tmp_path_factory.mktemp("ts-api-data"), data_dir)
    running = ServerThread(Settings(data_dir=root, threads=2, concurrency=1, preload=["v1_0"])).start()
    yield running
    running.stop()


def check_words(words: list[dict], seconds: float, text: str = TEXT) -> None:
    assert [w["word"] for w in words] == [text[w["char_start"]:w["char_end"]] for w in words]
    assert "$5" in [w["word"] for w in words]  # the input's word, not the spoken "five dollars"
    assert all(a["start_time"] < a["end_time"] <= b["start_time"] for a, b in zip(words, words[1:]))
    assert 0 <= words[0]["start_time"] and words[-1]["end_time"] <= seconds


def test_captioned_speech_whole_as_kokoro_fastapi_answers_it(server):
    response = httpx.post(server.url + "/dev/captioned_speech", timeout=120, json={
        "model": "kokoro", "input": TEXT, "voice": "af_heart", "response_format": "wav", "stream": False})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"audio", "audio_format", "timestamps"} and body["audio_format"] == "audio/wav"
    audio, rate = decode(base64.b64decode(body["audio"]), "wav")
    assert rate == SAMPLE_RATE
    check_words(body["timestamps"], audio.size / SAMPLE_RATE)
    assert {"word", "start_time", "end_time"} <= set(body["timestamps"][0])


def test_captioned_speech_streams_json_lines_of_audio_and_words(server):
    lines = []
    with httpx.stream("POST", server.url + "/dev/captioned_speech", timeout=120, json={
            "input": TEXT, "voice": "af_heart", "response_format": "mp3"}) as response:  # stream: true by default
        assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
        for line in response.iter_lines():
            if line:
                lines.append(json.loads(line))
    assert len(lines) >= 3 and all(set(line) == {"audio", "audio_format", "timestamps"} for line in lines)
    assert {line["audio_format"] for line in lines} == {"audio/mpeg"}
    audio, _ = decode(b"".join(base64.b64decode(line["audio"]) for line in lines), "mp3")
    words = [w for line in lines for w in line["timestamps"]]
    check_words(words, audio.size / SAMPLE_RATE + 0.05)  # mp3 may trim its padding by a frame
    assert sum(bool(line["timestamps"]) for line in lines) >= 3  # each piece carries its own words


def test_sse_word_events_through_the_openai_clients_raw_stream(server):
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="not-needed", max_retries=0, timeout=120)
    events = []
    with client.audio.speech.with_streaming_response.create(
            model="kokoro", voice="af_heart", input=TEXT, response_format="pcm", stream_format="sse",
            extra_body={"timestamps": True, "return_download_link": True}) as response:
        captions_path = response.headers["x-captions-path"]
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: "):]))
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "speech.audio.done" and "speech.audio.words" in kinds
    assert kinds[0] == "speech.audio.delta"
    heard = samples = 0
    for event in events:  # a voice agent cutting the stream knows which words were heard
        if event["type"] == "speech.audio.delta":
            samples += len(base64.b64decode(event["audio"])) // 2
        elif event["type"] == "speech.audio.words":
            assert all(w["end_time"] <= samples / SAMPLE_RATE + 1e-6 for w in event["words"])
            assert all(w["start_time"] >= heard for w in event["words"])
            heard = event["words"][-1]["end_time"]
    words = [w for e in events if e["type"] == "speech.audio.words" for w in e["words"]]
    check_words(words, samples / SAMPLE_RATE)

    vtt = httpx.get(server.url + "/v1" + captions_path)  # kept beside the audio: WebVTT, and SRT by its name
    assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT\n\n00:00:00.")
    srt = httpx.get(server.url + "/v1" + re.sub(r"\.vtt$", ".srt", captions_path))
    assert srt.status_code == 200 and srt.headers["content-type"].startswith("application/x-subrip")
    assert "$5," in srt.text and "That was the second paragraph." in srt.text


@pytest.mark.parametrize("fmt", ["srt", "vtt", "json"])
def test_caption_files_and_the_audio_of_the_same_synthesis(server, fmt):
    response = httpx.post(server.url + "/v1/audio/captions", timeout=120, json={
        "input": TEXT, "voice": "af_heart", "caption_format": fmt, "response_format": "flac",
        "return_download_link": True})
    assert response.status_code == 200, response.text
    audio, _ = decode(httpx.get(server.url + "/v1" + response.headers["x-download-path"]).content, "flac")
    seconds = audio.size / SAMPLE_RATE
    if fmt == "json":
        check_words(response.json()["words"], seconds)
        assert response.json()["audio_seconds"] == pytest.approx(seconds, abs=0.01)
        return
    stamp = r"(\d\d):(\d\d):(\d\d)[,.](\d\d\d)"
    times = [[int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000 for h, m, s, ms in re.findall(stamp, line)]
             for line in response.text.splitlines() if "-->" in line]
    assert len(times) >= 3 and all(end > start for start, end in times)
    assert all(a[1] <= b[0] for a, b in zip(times, times[1:])) and times[-1][1] <= seconds + 1.0
    assert response.text.startswith("1\n" if fmt == "srt" else "WEBVTT\n")
    assert "Hello there." in response.text and "$5," in response.text


def test_timestamps_need_sse_or_the_captions_route(server):
    response = httpx.post(server.url + "/v1/audio/speech", timeout=60, json={"input": "Hi.", "timestamps": True})
    assert response.status_code == 400 and response.json()["error"]["param"] == "timestamps"


def test_model_without_durations_refuses_timestamps_with_a_clear_4xx(tiny_dir):
    settings = Settings(data_dir=tiny_dir, threads=1, embedded_model=False, preload=[])
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        plain = client.post("/v1/audio/speech", json={"input": "Hello.", "voice": "af_heart", "response_format": "pcm"})
        assert plain.status_code == 200 and plain.content  # speech still works
        for path, body in (("/v1/audio/speech", {"stream_format": "sse", "timestamps": True}),
                           ("/dev/captioned_speech", {}), ("/v1/audio/captions", {})):
            response = client.post(path, json={"input": "Hello.", "voice": "af_heart", **body})
            assert response.status_code == 422, (path, response.text)
            error = response.json()["error"]
            assert error["code"] == "timestamps_unavailable" and "kokoro-v1_0.onnx" in error["message"]
        whole = client.post("/dev/captioned_speech", json={"input": "Hello.", "return_timestamps": False,
                                                            "voice": "af_heart", "stream": False})
        assert whole.status_code == 200 and whole.json()["timestamps"] == []
