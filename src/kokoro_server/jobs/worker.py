"""Runs one job to its end: every chunk not done yet, then the audiobook's files.

Chunks are synthesized by ``workers`` tasks at once (one per engine slot), each chunk inside one
``gate`` turn: in the server that is the synthesis runner's background slot, below every live
request (see :meth:`kokoro_server.serving.runner.SynthesisRunner.background_turn`); in the CLI it is
open. A chunk is spoken, written and recorded in a worker thread; once begun it runs to its end
even if the job is stopped (the chunk in progress is the most a stop or crash can lose), and it is
recorded only while the job is still this process's to run.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass



from kokoro_server.audio.encoders import to_int16
from kokoro_server.errors import KokoroError
from kokoro_server.jobs import audiobook
from kokoro_server.jobs.loudness import chunk_loudness
from kokoro_server.jobs.model import BOOK_FORMAT, CAPTION_FORMATS, JobStatus, JobView
from kokoro_server.jobs.speaker import Speaker
from kokoro_server.jobs.store import ChunkResult, ChunkTask, DiskFullError, JobStore
from kokoro_server.service import SpeechService

log = logging.getLogger("kokoro_server.jobs")

Gate = Callable[[], AbstractAsyncContextManager[None]]
DISK_RESERVE_BYTES = 64 * 1024 * 1024  # a job stops (failed) rather than fill the disk past this


@asynccontextmanager
async def open_gate() -> AsyncIterator[None]:
    """No sharing to arbitrate (the CLI): every chunk goes at once."""
    yield


@dataclass(frozen=True)
class Progress:
    job_id: str
    chapter: int
    chars: int  # of the chunk just done


class JobWorker:
    def __init__(self, store: JobStore, service: SpeechService, job_id: str, *, executor: Executor,
                 workers: int = 1, gate: Gate = open_gate, target_lufs: float | None = -20.0,
                 on_progress: Callable[[Progress], None] | None = None) -> None:
        self.store = store
        self.service = service
        self.job_id = job_id
        self.executor = executor
        self.workers = max(1, workers)
        self.gate = gate
        self.target_lufs = target_lufs
        self.on_progress = on_progress
        self.stopping = False  # set by stop(): take no new chunk
        self._error: BaseException | None = None

    def stop(self) -> None:
        self.stopping = True

    async def run(self) -> JobStatus | None:
        """Run the claimed job; its final status, or None when stopped before the end."""
        view = await asyncio.to_thread(self.store.view, self.job_id)
        speaker = Speaker(self.service, view.request.speech, view.voice, view.lang)
        tasks = await asyncio.to_thread(self.store.pending, self.job_id)
        queue: asyncio.Queue[ChunkTask] = asyncio.Queue()
        for task in tasks:
            queue.put_nowait(task)
        workers = min(self.workers, max(len(tasks), 1))
        try:
            held = await asyncio.to_thread(speaker.hold, workers)
        except Exception as exc:  # noqa: BLE001 - e.g. the model cannot load: the job fails with the reason
            return await asyncio.to_thread(self._fail, exc)
        try:
            await asyncio.gather(*(self._work(queue, speaker) for _ in range(workers)))
        finally:
            held.close()
        if self._error is not None:
            return await asyncio.to_thread(self._fail, self._error)
        if self.stopping or not await asyncio.to_thread(self.store.still_mine, self.job_id):
            return None
        if await asyncio.to_thread(self.store.pending, self.job_id):
            return None  # a chunk was not recorded (the job changed hands): not complete
        await asyncio.to_thread(self.store.set_phase, self.job_id, "assembling")
        try:
            await asyncio.to_thread(self._assemble)
        except Exception as exc:  # noqa: BLE001 - any failure ends the job with its reason
            return await asyncio.to_thread(self._fail, exc)
        if not await asyncio.to_thread(self.store.set_status, self.job_id, "completed", only_from=("running",)):
            return None
        log.info("job %s completed", self.job_id)
        return "completed"

    async def _work(self, queue: asyncio.Queue[ChunkTask], speaker: Speaker) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping and self._error is None:
            try:
                task = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            async with self.gate():
                if self.stopping or self._error is not None:
                    return
                future = loop.run_in_executor(self.executor, self._produce, speaker, task)
                try:
                    await asyncio.shield(future)
                except asyncio.CancelledError:
                    self.stopping = True
                    await asyncio.wait([future])  # the chunk in progress ends before its slot is given back
                    raise
                except BaseException as exc:  # noqa: BLE001 - recorded as the job's failure
                    self._error = exc
                    return

    def _produce(self, speaker: Speaker, task: ChunkTask) -> None:
        """In a worker thread: speak one chunk, write and record it."""
        if not self.store.still_mine(task.job_id):
            self.stopping = True
            return
        if shutil.disk_usage(self.store.root).free < DISK_RESERVE_BYTES:
            raise DiskFullError(f"the disk holding {self.store.root} is nearly full; the job stopped before "
                                "filling it (free some space, then resume the job)")
        self.store.attempt(task)
        started = time.perf_counter()
        spoken = speaker.speak(task.text)
        words = None if spoken.words is None else [
            [w, s, e, a + task.start, b + task.start] for w, s, e, a, b in spoken.words]  # type: ignore[operator]
        result = ChunkResult(to_int16(spoken.audio), words, chunk_loudness(spoken.audio),
                             time.perf_counter() - started)
        recorded = self.store.record(task, result)
        if not recorded or not self.store.still_mine(task.job_id):
            self.stopping = True
        if recorded and self.on_progress is not None:
            self.on_progress(Progress(task.job_id, task.chapter, len(task.text)))

    def _fail(self, error: BaseException) -> JobStatus | None:
        expected = isinstance(error, KokoroError)
        message = error.message if isinstance(error, KokoroError) else f"{type(error).__name__}: {error}"
        log.log(logging.WARNING if expected else logging.ERROR, "job %s failed: %s", self.job_id, message,
                exc_info=None if expected else error)
        if self.store.set_status(self.job_id, "failed", error=message, only_from=("running",)):
            return "failed"
        return None

    def _assemble(self) -> None:
        finish(self.store, self.job_id, self.target_lufs)


def finish(store: JobStore, job_id: str, target_lufs: float | None) -> dict[str, float | None]:
    """Write the finished job's files into its ``out/`` folder; returns the audio's levels."""
    view = store.view(job_id)
    options = view.request.options
    chapters = audiobook.layouts(store, job_id)
    gain = audiobook.book_gain(chapters, target_lufs if options.normalize_loudness else None)
    out = store.output_folder(job_id)
    out.mkdir(exist_ok=True)
    levels = audiobook.Levels()
    loudness = audiobook.book_loudness_of(chapters)
    if options.format == BOOK_FORMAT:
        audiobook.write_m4b(out / "book.m4b", store, job_id, chapters, gain, meta_of(view), store.cover(job_id), levels)
    else:
        files = []
        for chapter in chapters:
            path = out / "chapters" / audiobook.chapter_file_name(chapter.number, chapter.title, extension(options.format))
            path.parent.mkdir(exist_ok=True)
            files.append(audiobook.write_audio(path, options.format,
                                               audiobook.chapter_audio(store, job_id, chapter, gain, levels)))
        if view.has_words:
            for chapter in chapters:
                words = chapter.words() or []
                for fmt in ("srt", "vtt"):
                    files.append(audiobook.write_captions(
                        out / "chapters" / audiobook.chapter_file_name(chapter.number, chapter.title, fmt), fmt,
                        words, chapter.text, chapter.seconds))
        audiobook.write_zip(out / "book.zip", files)
    together = audiobook.book_words(chapters) if view.has_words else None
    if together is not None:
        words, text = together
        seconds = sum(c.seconds for c in chapters)
        for fmt in CAPTION_FORMATS:
            audiobook.write_captions(out / f"book.{fmt}", fmt, words, text, seconds)
    report = levels.report(gain, loudness)
    store.set_outputs(job_id, report)
    return report


def extension(fmt: str) -> str:
    from kokoro_server.audio.encoders import get_format

    return get_format(fmt).extension


def meta_of(view: JobView) -> audiobook.BookMeta:
    return audiobook.BookMeta(view.title, view.author, view.language,
                              f"Read by Kokoro-82M ({view.voice}), kokoro-server")


