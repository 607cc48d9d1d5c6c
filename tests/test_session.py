"""The speech session (serving/session.py) as the routes, the CLI and the coming APIs use it: pieces
with their words, positions and usage, a whole file from its spool, a prepared request fed in,
closing half-way, and the volume and budget checks every caller shares."""

from __future__ import annotations

import asyncio
import io
import wave
from pathlib import Path

import pytest

from kokoro_server import SAMPLE_RATE
from kokoro_server.cli import main
from kokoro_server.errors import AudioTooLongError, InvalidInputError
from kokoro_server.files import SPOOL_PREFIX
from kokoro_server.service import SpeechRequest
from kokoro_server.serving.runner import SynthesisRunner
from kokoro_server.serving.session import SessionOptions, Sessions


def sessions_of(service, spool: Path, concurrency: int = 1) -> Sessions:
    return Sessions(service, SynthesisRunner(service, concurrency=concurrency, queue_size=0), spool_folders=[spool])


def test_a_session_gives_every_piece_with_its_words_position_and_usage(service, tmp_path: Path):
    text = "Hello there. This is the second sentence, and it has a clause."

    async def run():
        sessions = sessions_of(service, tmp_path)
        async with sessions.open(SpeechRequest(text=text), SessionOptions.of("pcm", timestamps="timestamps")) as s:
            pieces = [piece async for piece in s.pieces()]
        await asyncio.sleep(0)
        sessions.runner.close()
        return pieces, s, sessions.runner

    pieces, session, runner = asyncio.run(run())
    assert len(pieces) >= 3 and pieces[-1].final and pieces[-1].error is None
    assert [p.final for p in pieces].count(True) == 1
    assert sum(len(p.data) for p in pieces) == 2 * sum(p.samples for p in pieces)  # pcm: 16-bit samples
    usage = session.usage
    assert usage.audio_seconds == pytest.approx(sum(p.samples for p in pieces) / SAMPLE_RATE)
    assert usage.output_tokens == -(-sum(p.samples for p in pieces) // 600) and usage.input_tokens > 20
    assert [w.word for w in session.words][:3] == ["Hello", "there", "This"]
    assert [w.word for w in session.words][-1] == "clause"
    positions = [p.position for p in pieces]
    assert positions == sorted(positions) and positions[-1] == text.index("clause") + len("clause")
    assert runner.running == 0 and runner.totals.finished == 1


def test_a_whole_file_session_spills_to_a_spool_file_and_seals_its_wav_header(service, tmp_path: Path):
    """Past a few MB the answer is kept on disk under the one spool name, deleted on close."""
    text = "Here. [pause:60s] There. [pause:30s] Done."

    async def run():
        sessions = sessions_of(service, tmp_path)
        session = sessions.open(SpeechRequest(text=text), SessionOptions.of("wav", whole=True))
        await session.start()
        done = await session.finish()
        assert done.spool is not None and done.spool.path is not None
        spooled = done.spool.path
        assert spooled.parent == tmp_path and spooled.name.startswith(SPOOL_PREFIX) and spooled.is_file()
        data = done.spool.getvalue()
        session.close()
        sessions.runner.close()
        return data, spooled, done.audio_seconds

    data, spooled, seconds = asyncio.run(run())
    assert not spooled.exists()
    with wave.open(io.BytesIO(data)) as clip:  # the header's sizes are the real ones
        assert clip.getframerate() == SAMPLE_RATE
        assert clip.getnframes() * 2 + 44 == len(data)
        assert clip.getnframes() / SAMPLE_RATE == pytest.approx(seconds, abs=0.01)
    assert 91 < seconds < 96


def test_a_prepared_request_is_fed_in_and_closing_half_way_frees_the_slot(service, tmp_path: Path):
    prepared = service.prepare(SpeechRequest(text="One sentence here. " * 40))

    async def run():
        sessions = sessions_of(service, tmp_path)
        session = sessions.open(None, SessionOptions.of("mp3"), prepared=prepared)
        pieces = session.pieces()
        first = await pieces.__anext__()
        assert session.prepared is prepared and not first.final
        await pieces.aclose()  # the caller stops listening: nothing later is synthesized
        for _ in range(200):
            if sessions.runner.running == 0:
                break
            await asyncio.sleep(0.05)
        sessions.runner.close()
        return session, sessions.runner

    session, runner = asyncio.run(run())
    assert runner.running == 0 and runner.totals.cancelled == 1
    assert session.record is not None and session.record.status == "cancelled" and session.record.chunks <= 2


def test_volume_and_budget_are_checked_for_every_caller(service, tmp_path: Path, capsys):
    with pytest.raises(InvalidInputError) as volume:
        SessionOptions.of("wav", volume=-3)
    assert volume.value.param == "volume_multiplier" and "between 0 and 10" in volume.value.message
    assert main(["say", "Hello.", "--volume", "-3", "-o", str(tmp_path / "x.wav")]) == 2
    assert "volume must be between 0 and 10, got -3" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()
    with pytest.raises(AudioTooLongError) as budget:
        service.prepare(SpeechRequest(text="Wait. " + "[pause:60s] " * 61))
    assert budget.value.status_code == 413 and "3660 s" in budget.value.message
    assert "KOKORO_MAX_PAUSE_SECONDS" in budget.value.message


def test_sessions_in_turn_lend_one_encoder_and_make_one_file(service, tmp_path: Path):
    """Text streamed in (a voice agent's) is spoken by several sessions in turn, each over a request
    prepared already: with one held encoder their audio is one Ogg Opus file, no session ends it
    with a tail of its own, and their usage adds up to all of it."""
    import av

    from kokoro_server.serving.session import HeldEncoder, Usage

    held = HeldEncoder.of(SessionOptions.of("opus"))
    texts = ["The first part of a streamed answer.", "And then the second part of it."]

    async def run():
        sessions = sessions_of(service, tmp_path)
        data, samples, usage = bytearray(), 0, Usage(0, 0, 0.0)
        for text in texts:
            prepared = service.prepare(SpeechRequest(text=text))
            async with sessions.open(None, SessionOptions.of("opus"), prepared=prepared, encoder=held) as session:
                async for piece in session.pieces():
                    assert not (piece.final and piece.data), "a session's end is not the file's end"
                    data += piece.data
                    samples += piece.samples
            usage += session.usage
        data += held.finish()
        held.close()
        sessions.runner.close()
        return bytes(data), samples, usage

    data, samples, usage = asyncio.run(run())
    with av.open(io.BytesIO(data)) as container:  # one stream: every part's audio decodes from it
        stream = container.streams.audio[0]
        decoded = sum(frame.samples for frame in container.decode(stream)) / stream.rate
    assert samples / SAMPLE_RATE > 3.0
    assert decoded == pytest.approx(samples / SAMPLE_RATE, abs=0.08)
    assert usage.audio_seconds == pytest.approx(samples / SAMPLE_RATE) and usage.input_tokens > 40
    with pytest.raises(ValueError):  # a held encoder's audio is the stream's: never kept on its own
        sessions_of(service, tmp_path).open(SpeechRequest(text="x"), SessionOptions.of("opus", keep="mp3"),
                                            encoder=held)
