"""The server's book jobs: which run, resuming after a restart, cancelling, expiring.

At most ``KOKORO_JOB_CONCURRENCY`` jobs run at once, oldest first, each with one worker per engine
slot, every chunk in a background turn of the synthesis runner (live requests first). At start-up
the jobs a stopped or killed server left unfinished are resumed (``KOKORO_JOB_RESUME``); a job
whose owner process is gone is taken over later too (another replica on the same data dir died).
On shutdown, running jobs go back to the queue. Finished jobs are deleted ``KOKORO_JOB_TTL_S``
after they end. Jobs made by the CLI are left to the CLI.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from kokoro_server.errors import ConflictError
from kokoro_server.jobs.model import TERMINAL, JobView
from kokoro_server.jobs.store import JobStore
from kokoro_server.jobs.worker import Gate, JobWorker, Progress, open_gate
from kokoro_server.service import SpeechService
from kokoro_server.settings import Settings

log = logging.getLogger("kokoro_server.jobs")

SWEEP_EVERY_S = 60.0
LOOK_EVERY_S = 5.0  # also look for new queued jobs this often (another process may add them)


class JobScheduler:
    def __init__(self, settings: Settings, service: SpeechService, store: JobStore, *, gate: Gate = open_gate,
                 workers: int = 1) -> None:
        self.settings = settings
        self.service = service
        self.store = store
        self.gate = gate
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=max(1, settings.job_concurrency * workers),
                                            thread_name_prefix="kokoro-job")
        self._running: dict[str, tuple[JobWorker, asyncio.Task[None]]] = {}
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- life ------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._recover)
        self._task = asyncio.create_task(self._schedule(), name="kokoro-jobs")

    def _recover(self) -> None:
        """Jobs left unfinished by a process that is gone: back to the queue, or cancelled."""
        orphans = self.store.orphans()
        if self.settings.job_resume:
            for job_id in orphans:
                self.store.set_status(job_id, "queued", only_from=("running",))
            if orphans:
                log.info("resuming %d job(s) left unfinished: %s", len(orphans), ", ".join(orphans))
            return
        stopped = orphans + self.store.runnable()
        for job_id in stopped:
            self.store.set_status(job_id, "cancelled", only_from=("running", "queued"),
                                  error="stopped by a restart (KOKORO_JOB_RESUME=false); POST "
                                        f"/v1/audio/jobs/{job_id}/resume continues it")
        if stopped:
            log.info("not resuming %d unfinished job(s) (KOKORO_JOB_RESUME=false)", len(stopped))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        running = list(self._running.items())
        for _, (worker, task) in running:
            worker.stop()
            task.cancel()
        if running:
            await asyncio.wait([task for _, (_, task) in running], timeout=30)
        for job_id, _ in running:  # the next start resumes them
            await asyncio.to_thread(self.store.set_status, job_id, "queued", only_from=("running",))
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- scheduling ------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    async def _schedule(self) -> None:
        since_sweep = SWEEP_EVERY_S
        while True:
            try:
                if since_sweep >= SWEEP_EVERY_S:
                    since_sweep = 0.0
                    await asyncio.to_thread(self._sweep)
                await self._start_jobs()
            except Exception:  # noqa: BLE001 - the scheduler must outlive any one problem
                log.exception("job scheduling failed; trying again shortly")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), LOOK_EVERY_S)
            except asyncio.TimeoutError:
                pass
            since_sweep += LOOK_EVERY_S

    async def _start_jobs(self) -> None:
        free = self.settings.job_concurrency - len(self._running)
        if free <= 0:
            return
        for job_id in await asyncio.to_thread(self.store.runnable):
            if free <= 0:
                break
            if job_id in self._running or not await asyncio.to_thread(self.store.claim, job_id):
                continue
            worker = JobWorker(self.store, self.service, job_id, executor=self._executor, workers=self.workers,
                               gate=self.gate, target_lufs=self.settings.job_loudness_lufs,
                               on_progress=self._progressed)
            self._running[job_id] = (worker, asyncio.create_task(self._run(worker), name=f"job-{job_id}"))
            free -= 1
            log.info("job %s started", job_id)
        await self._notify()

    async def _run(self, worker: JobWorker) -> None:
        try:
            await worker.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug: the job fails with its reason, others go on
            log.exception("job %s stopped by an error", worker.job_id)
            await asyncio.to_thread(self.store.set_status, worker.job_id, "failed", error=f"{type(exc).__name__}: {exc}",
                                    only_from=("running",))
        finally:
            self._running.pop(worker.job_id, None)
            self.wake()
            await self._notify()

    def _sweep(self) -> None:
        for job_id in self.store.expired(self.settings.job_ttl_s):
            if job_id not in self._running:
                self.store.delete(job_id)
                log.info("job %s expired and was deleted", job_id)
        for job_id in self.store.orphans():  # another process on this data dir died
            if self.settings.job_resume and self.store.set_status(job_id, "queued", only_from=("running",)):
                log.info("job %s: its process is gone; it goes back to the queue", job_id)

    # -- progress --------------------------------------------------------------------------
    def _progressed(self, progress: Progress) -> None:
        """Called from a worker thread after each chunk."""
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._notify(), self._loop)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def changed(self, timeout: float) -> None:
        """Returns after the next change of any job in this process, or after ``timeout`` seconds."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    # -- requests --------------------------------------------------------------------------
    async def cancel(self, job_id: str) -> JobView:
        view = await asyncio.to_thread(self.store.view, job_id)
        if view.status in TERMINAL:
            raise ConflictError(f"job {job_id} is already {view.status}", param="id")
        await asyncio.to_thread(self.store.set_status, job_id, "cancelled", error="cancelled on request",
                                only_from=("queued", "running"))
        running = self._running.get(job_id)
        if running is not None:
            running[0].stop()
        await self._notify()
        return await asyncio.to_thread(self.store.view, job_id)

    async def resume(self, job_id: str) -> JobView:
        view = await asyncio.to_thread(self.store.view, job_id)
        if view.status not in ("failed", "cancelled"):
            raise ConflictError(f"job {job_id} is {view.status}; only a failed or cancelled job can be resumed",
                                param="id")
        if view.origin != "api":
            raise ConflictError(f"job {job_id} was made by the command line; run the same command again to "
                                "resume it", param="id")
        await asyncio.to_thread(self.store.set_status, job_id, "queued", only_from=("failed", "cancelled"))
        self.wake()
        await self._notify()
        return await asyncio.to_thread(self.store.view, job_id)

    async def delete(self, job_id: str) -> None:
        await asyncio.to_thread(self.store.view, job_id)  # 404 if unknown
        running = self._running.get(job_id)
        if running is not None:
            worker, task = running
            worker.stop()
            await asyncio.to_thread(self.store.set_status, job_id, "cancelled", only_from=("running",))
            await asyncio.wait([task], timeout=60)
        await asyncio.to_thread(self.store.delete, job_id)
        await self._notify()
