"""The server's book jobs, put together: the store in the data dir, the service that makes jobs, and
the scheduler whose every chunk takes a background turn of the synthesis runner."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kokoro_server.files import create_spool_file
from kokoro_server.jobs.scheduler import JobScheduler
from kokoro_server.jobs.service import JobService
from kokoro_server.jobs.store import JobStore
from kokoro_server.serving.runner import SynthesisRunner
from kokoro_server.service import SpeechService
from kokoro_server.settings import Settings

log = logging.getLogger("kokoro_server.jobs")


@dataclass
class SpoolFile:
    """A book upload, or a chapter made for one answer, on disk while its request lasts: a spool file
    (``files.create_spool_file``: locked while open, deleted by :meth:`discard`, and swept at the next
    start if the process was killed)."""

    path: Path
    file: BinaryIO

    @classmethod
    def create(cls, folder: Path) -> SpoolFile:
        fd, path = create_spool_file(folder)
        return cls(path, os.fdopen(fd, "w+b"))

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
            self.path.unlink(missing_ok=True)


@dataclass
class JobsServing:
    store: JobStore
    service: JobService
    scheduler: JobScheduler

    @classmethod
    async def start(cls, settings: Settings, service: SpeechService, runner: SynthesisRunner) -> JobsServing | None:
        """The jobs of ``<data dir>/jobs``; None (jobs unavailable, logged) when the data dir is not writable."""
        root = service.data_dir.jobs_dir
        try:
            store = await asyncio.to_thread(JobStore, root, max_disk_bytes=settings.job_max_disk_bytes)
        except (OSError, sqlite3.Error) as exc:
            log.warning("book jobs are unavailable: %s cannot hold them (%s)", root, exc)
            return None
        scheduler = JobScheduler(settings, service, store, gate=runner.background_turn, workers=runner.concurrency)
        await scheduler.start()
        return cls(store, JobService(settings, service, store), scheduler)

    def spool(self) -> SpoolFile:
        """A spool file in ``<data dir>/spool/`` for an upload or a one-off answer."""
        return SpoolFile.create(self.service.service.data_dir.spool_dir)

    async def close(self) -> None:
        await self.scheduler.close()
        await asyncio.to_thread(self.store.close)
