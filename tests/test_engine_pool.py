"""The ONNX backend's session pool: parallel calls, first come first served, close, layout."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from kokoro_server.engine.onnx_runtime import OnnxBackend, SessionLayout, session_layout
from kokoro_server.engine.pool import SessionPool
from kokoro_server.errors import BackendUnavailableError
from kokoro_server.service import SpeechService
from kokoro_server.settings import Settings
from tests.support.engine import engine_inputs

TEXTS = ["Good morning.", "The cat sat on the mat.", "Rain again today?", "See you soon, Anna."]


def test_concurrent_calls_on_a_pool_give_the_same_audio_as_calls_in_turn(service: SpeechService,
                                                                         model_file: Path) -> None:
    inputs = engine_inputs(service, TEXTS)
    backend = OnnxBackend(model_file, sessions=2, threads=1)
    try:
        assert backend.sessions == 2 and "2 session(s) x 1 thread(s)" in backend.description
        expected = [backend.synthesize(tokens, style, 1.0).audio for tokens, style in inputs]
        order = list(range(len(inputs))) * 2
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda i: backend.synthesize(*inputs[i], 1.0).audio, order))
        for i, audio in zip(order, results):
            np.testing.assert_array_equal(audio, expected[i])
        assert len({a.size for a in expected}) == len(expected)  # distinct utterances: no mix-ups can hide
    finally:
        backend.close()
    with pytest.raises(BackendUnavailableError, match="unloaded"):
        backend.synthesize(*inputs[0], 1.0)


def test_pool_lends_all_its_sessions_at_once() -> None:
    pool = SessionPool(["a", "b"], name="m")
    both_held = threading.Barrier(2, timeout=10)  # breaks (and fails the test) if one caller must wait
    held: list[str] = []

    def call() -> None:
        with pool.use() as item:
            held.append(item)
            both_held.wait()

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(held) == ["a", "b"] and not both_held.broken


def test_a_released_session_goes_to_the_caller_waiting_longest() -> None:
    """A stream that asks again right after its chunk cannot starve another stream."""
    pool = SessionPool(["only"], name="m")
    order: list[str] = []
    first_holds = threading.Event()

    def first() -> None:
        with pool.use():
            first_holds.set()
            wait_for_waiter(pool)
        with pool.use():  # at once again, as a stream's next chunk would
            order.append("first again")

    def second() -> None:
        assert first_holds.wait(10)
        with pool.use():
            order.append("second")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert order == ["second", "first again"]


def wait_for_waiter(pool: SessionPool) -> None:
    for _ in range(1000):
        if pool._waiters:  # noqa: SLF001 - a caller is queued
            return
        threading.Event().wait(0.01)
    raise AssertionError("no caller queued")


def test_close_fails_waiting_and_later_callers() -> None:
    pool = SessionPool(["only"], name="model.onnx")
    holding, errors = threading.Event(), []

    def waiter() -> None:
        try:
            with pool.use():
                pass
        except BackendUnavailableError as exc:
            errors.append(exc)

    with pool.use():
        holding.set()
        thread = threading.Thread(target=waiter)
        thread.start()
        wait_for_waiter(pool)
        pool.close()
        thread.join(10)
    assert len(errors) == 1 and "model.onnx was unloaded" in errors[0].message
    with pytest.raises(BackendUnavailableError):
        with pool.use():
            pass


@pytest.mark.parametrize("sessions, threads, concurrency, cores, expected", [
    (0, 0, 1, 2, (1, 2, 0)),  # one synthesis at a time: one session with every core
    (0, 0, 2, 2, (2, 1, 2)),  # two at once: a 1-thread session each, and every core for a lone stream
    (0, 0, 4, 2, (2, 1, 2)),  # never more sessions than cores
    (0, 0, 2, 8, (2, 4, 8)),
    (3, 0, 1, 8, (3, 2, 0)),  # explicit sessions, threads shared out, no wide session
    (0, 3, 2, 8, (2, 3, 0)),  # explicit threads
    (0, 0, 1, 1, (1, 1, 0)),
    (0, 0, 2, 1, (1, 1, 0)),
])
def test_session_layout(sessions: int, threads: int, concurrency: int, cores: int,
                        expected: tuple[int, int, int]) -> None:
    assert session_layout(sessions, threads, concurrency, cores) == SessionLayout(*expected)


def test_a_lone_stream_runs_on_the_wide_session_and_concurrent_streams_on_the_narrow_ones(
        service: SpeechService, model_file: Path) -> None:
    inputs = engine_inputs(service, TEXTS[:2])
    backend = OnnxBackend(model_file, sessions=2, threads=1, wide_threads=2)
    try:
        assert ("1 session x 2 thread(s) for a lone stream, 2 session(s) x 1 thread(s) when streams overlap"
                in backend.description)
        with backend.streaming():
            alone = [backend.synthesize(tokens, style, 1.0).audio for tokens, style in inputs]
        assert backend.calls_on == {"wide": 2, "narrow": 0}
        assert backend._running.pool is None  # noqa: SLF001 - the narrow sessions are not opened until needed

        both_live = threading.Barrier(2, timeout=30)

        def stream(index: int) -> np.ndarray:
            with backend.streaming():
                both_live.wait()  # two streams are live before either calls
                audio = backend.synthesize(*inputs[index], 1.0).audio
                both_live.wait()
                return audio

        with ThreadPoolExecutor(2) as pool:
            together = list(pool.map(stream, [0, 1]))
        assert backend.calls_on == {"wide": 2, "narrow": 2}
        for a, b in zip(alone, together):  # the same audio whichever session ran it
            np.testing.assert_allclose(a, b, atol=1e-4)
    finally:
        backend.close()
    with pytest.raises(BackendUnavailableError, match="unloaded"):
        backend.synthesize(*inputs[0], 1.0)


def test_settings_choose_the_pool(data_dir: Path) -> None:
    service = SpeechService(Settings(data_dir=data_dir, sessions=2, threads=1))
    try:
        backend = service.models.get("v1_0").backend
        assert "2 session(s) x 1 thread(s)" in backend.description
    finally:
        service.close()
