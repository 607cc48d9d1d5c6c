"""Serving pieces without HTTP: the download store, the .pt writer, the runner's edge cases."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import numpy as np
import pytest

from kokoro_server.audio.encoders import StreamingEncoder, get_format
from kokoro_server.serving.download_links import DownloadStore
from kokoro_server.errors import BusyError, InvalidInputError, NotFoundError
from kokoro_server.serving.runner import SynthesisRunner
from kokoro_server.service import SpeechRequest
from kokoro_server.voices.export import pack_to_pt
from kokoro_server.voices.packs import read_pack_file
from kokoro_server.voices.torch_pickle import load_tensor_file
from tests.support.audio import SAMPLE_RATE, assert_speech_like, decode
from tests.support.ci import require_module


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def publish(store: DownloadStore, fmt: str, parts: list[bytes]) -> str:
    writer = store.open(get_format(fmt))
    for part in parts:
        writer.write(part)
    writer.finish()
    return writer.name


def test_downloads_expire_and_stay_within_their_size_budget(tmp_path: Path):
    clock = Clock()
    store = DownloadStore(tmp_path / "dl", ttl_s=10, max_bytes=100, clock=clock)
    first = publish(store, "mp3", [b"a" * 30, b"b" * 30])
    assert store.get(first).path.read_bytes() == b"a" * 30 + b"b" * 30
    clock.now = 5
    second = publish(store, "mp3", [b"c" * 50])  # 110 bytes in all: the oldest goes
    with pytest.raises(NotFoundError):
        store.get(first)
    assert store.total_bytes == 50 and not (tmp_path / "dl" / first).exists()
    too_big = publish(store, "mp3", [b"d" * 60, b"e" * 60])  # over the whole budget: never kept
    with pytest.raises(NotFoundError):
        store.get(too_big)
    assert store.get(second).size == 50
    clock.now = 16
    with pytest.raises(NotFoundError, match="expired"):
        store.get(second)
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == []
    store.close()
    assert not (tmp_path / "dl").exists()


def test_download_of_streamed_wav_gets_its_real_sizes_and_unfinished_ones_are_not_served(tmp_path: Path):
    store = DownloadStore(tmp_path / "dl", ttl_s=60, max_bytes=10_000)
    encoder = StreamingEncoder("wav")
    writer = store.open(get_format("wav"))
    writer.write(encoder.encode(np.zeros(2400, np.float32)))
    with pytest.raises(NotFoundError, match="still being written"):
        store.get(writer.name)
    writer.write(encoder.finish())
    writer.finish()
    data = store.get(writer.name).path.read_bytes()
    assert int.from_bytes(data[40:44], "little") == 4800 and len(data) == 44 + 4800
    aborted = store.open(get_format("mp3"))
    aborted.write(b"partial")
    aborted.abort()
    with pytest.raises(NotFoundError):
        store.get(aborted.name)
    assert [p.name for p in (tmp_path / "dl").iterdir()] == [writer.name]


def test_pt_writer_round_trips_through_our_reader_and_torch(assets: Path, tmp_path: Path):
    pack = read_pack_file(assets / "voices" / "v1_0" / "af_heart.pt")
    (tmp_path / "copy.pt").write_bytes(pack_to_pt(pack))
    np.testing.assert_array_equal(load_tensor_file(tmp_path / "copy.pt"), pack)
    torch = require_module("torch", "pip install torch==2.13.0 (the torch extra)")
    tensor = torch.load(io.BytesIO(pack_to_pt(pack)), weights_only=True)
    assert tensor.dtype == torch.float32 and tuple(tensor.shape) == (510, 1, 256)
    np.testing.assert_array_equal(tensor.numpy(), pack)


class FailsAfterFirstChunk:
    """The real service, whose synthesis breaks after its first chunk (a disk or engine failure)."""

    def __init__(self, service) -> None:
        self._service = service

    def stream(self, prepared):
        chunks = self._service.stream(prepared)
        yield next(chunks)
        raise InvalidInputError("injected failure after the first chunk")


def test_a_failure_after_audio_started_ends_the_stream_as_a_valid_file_and_frees_the_slot(service):
    prepared = service.prepare(SpeechRequest(text="First part, then. The second sentence never comes."))

    async def run() -> tuple[list, SynthesisRunner]:
        runner = SynthesisRunner(FailsAfterFirstChunk(service), concurrency=1, queue_size=0)  # type: ignore[arg-type]
        stream = await runner.start(prepared, StreamingEncoder("mp3"), request_id="fails-1")
        with pytest.raises(BusyError) as busy:  # the only slot is taken and no one may wait
            await runner.start(prepared, StreamingEncoder("mp3"), request_id="refused-1")
        assert busy.value.retry_after >= 1
        pieces = [piece async for piece in stream.pieces()]
        await asyncio.sleep(0)
        runner.close()
        return pieces, runner

    pieces, runner = asyncio.run(run())
    assert pieces[-1].final and isinstance(pieces[-1].error, InvalidInputError)
    assert [p.final for p in pieces] == [False, True]
    audio, rate = decode(b"".join(p.data for p in pieces))
    assert rate == SAMPLE_RATE
    assert_speech_like(audio, min_seconds=0.3, max_seconds=3.0)
    record = runner.record("fails-1")
    assert record is not None and record.status == "failed" and "injected" in (record.error or "")
    assert runner.running == 0 and runner.waiting == 0
    assert runner.totals.failed == 1 and runner.totals.rejected == 1
