"""The server's book jobs, put together: the store in the data dir, the service that makes jobs, and
the scheduler whose every chunk takes a background turn of the synthesis runner."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass

from kokoro_server.files import TempFile
from kokoro_server.jobs.scheduler import JobScheduler
from kokoro_server.jobs.service import JobService
from kokoro_server.jobs.store import JobStore
from kokoro_server.serving.runner import SynthesisRunner
from kokoro_server.service import SpeechService
from kokoro_server.settings import Settings

log = logging.getLogger("kokoro_server.jobs")


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

    def spool(self, name: str) -> TempFile:
        """A temp file for an upload or a one-off answer (``<data dir>/spool/``, swept if the server is killed)."""
        return self.service.service.data_dir.spool_file(name)

    async def close(self) -> None:
        await self.scheduler.close()
        await asyncio.to_thread(self.store.close)
