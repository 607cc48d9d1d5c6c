"""Durable job state: SQLite (WAL) for jobs, chapters and chunks; audio files beside it.

Everything lives under ``<data dir>/jobs/``::

    jobs.sqlite3            jobs, chapters, planned chunks (done or not), attempts
    owners/<token>.lock     one per running process, locked (flock) while it lives
    <job id>/cover.jpg      the book's cover
    <job id>/chunks/<chapter>/<index>.pcm   each finished chunk: 16-bit mono 24 kHz samples
    <job id>/out/           the audiobook, chapter files and captions, made when the job completes

A chunk's audio is written to a temp file, fsynced and renamed into place *before* its row says it
is done, so after a ``kill -9`` at any moment every chunk marked done has its audio, and only chunks
in progress are lost (their temp files are swept at the next start with the data dir's others:
``DataDir.temp_folders`` lists these folders). A job whose owner process is gone (its lock file no longer held) is orphaned:
the next process to start requeues it (``KOKORO_JOB_RESUME``). Each chunk's synthesis is logged in
``attempts`` first, so a chunk synthesized twice can be counted.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kokoro_server import SAMPLE_RATE
from kokoro_server.errors import ConflictError, InvalidInputError, KokoroError, NotFoundError
from kokoro_server.files import TempFile, fsync_folder
from kokoro_server.jobs.books import Book
from kokoro_server.jobs.model import TERMINAL, ChapterView, JobRequest, JobStatus, JobView
from kokoro_server.jobs.plan import plan_chapter
from kokoro_server.languages import LANGUAGES
from kokoro_server.text.chunk import ChunkRules

log = logging.getLogger("kokoro_server.jobs")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    origin TEXT NOT NULL,
    fingerprint TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    title TEXT, author TEXT, language TEXT,
    voice TEXT NOT NULL, lang TEXT NOT NULL,
    source_name TEXT, source_format TEXT NOT NULL,
    request TEXT NOT NULL,
    error TEXT,
    phase TEXT,
    owner TEXT,
    cover TEXT,
    output_bytes INTEGER NOT NULL DEFAULT 0,
    levels TEXT,                       -- JSON: the finished audio's loudness, RMS, peak and gain
    run_started_at REAL, run_chars_at_start INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE TABLE IF NOT EXISTS chapters (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    selected INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (job_id, number)
);
CREATE TABLE IF NOT EXISTS chunks (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    chapter INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    pause INTEGER NOT NULL,            -- samples of silence after the chunk's audio
    done INTEGER NOT NULL DEFAULT 0,
    samples INTEGER,                   -- of the chunk's own audio (without the pause)
    sum_squares REAL, peak REAL, loudness REAL,
    words TEXT,                        -- JSON [[word, start_s, end_s, char_start, char_end]...]; null: none
    bytes INTEGER, seconds REAL, done_at REAL,
    PRIMARY KEY (job_id, chapter, idx)
);
CREATE TABLE IF NOT EXISTS attempts (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    chapter INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    owner TEXT NOT NULL,
    at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class ChunkTask:
    """A planned chunk that is not done yet: what to speak."""

    job_id: str
    chapter: int
    index: int
    start: int  # in the chapter's text
    text: str
    pause: int  # samples of silence after it


@dataclass(frozen=True)
class ChunkResult:
    audio: np.ndarray  # int16 samples of the chunk's own audio
    words: list[list[object]] | None  # [word, start_s, end_s, char_start, char_end], chars in the chapter
    loudness: float | None  # integrated loudness (LUFS) of the chunk; None: too short to measure
    seconds: float  # wall time its synthesis took


@dataclass(frozen=True)
class StoredChunk:
    chapter: int
    index: int
    samples: int
    pause: int
    sum_squares: float
    peak: float
    loudness: float | None
    words: list[list[object]] | None


class Owner:
    """This process, as the owner of the jobs it runs: a lock file held for as long as it lives."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.path = folder / f"{self.token}.lock"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    @staticmethod
    def alive(folder: Path, token: str | None) -> bool:
        """Whether the process that holds ``token`` still runs (its lock file is still locked)."""
        if not token:
            return False
        path = folder / f"{token}.lock"
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        path.unlink(missing_ok=True)  # a dead owner's lock file
        return False

    def close(self) -> None:
        if self._fd >= 0:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = -1


def new_job_id() -> str:
    return "job_" + secrets.token_hex(8)


class JobStore:
    """The jobs of one data dir; safe to use from several threads and processes at once."""

    def __init__(self, root: Path, *, max_disk_bytes: int = 0) -> None:
        self.root = root
        self.max_disk_bytes = max_disk_bytes  # 0: no limit of its own (the free space still counts)
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(root / "jobs.sqlite3", timeout=30, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self.owner = Owner(root / "owners")

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self.owner.close()

    # -- paths -----------------------------------------------------------------------------
    def folder(self, job_id: str) -> Path:
        return self.root / job_id

    def chunk_path(self, job_id: str, chapter: int, index: int) -> Path:
        return self.folder(job_id) / "chunks" / str(chapter) / f"{index}.pcm"

    def output_folder(self, job_id: str) -> Path:
        return self.folder(job_id) / "out"

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            cursor = self._db.execute(sql, params)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    # -- creating --------------------------------------------------------------------------
    def create(self, book: Book, request: JobRequest, *, voice: str, lang: str, selected: set[int],
               origin: str = "api", fingerprint: str | None = None, source_name: str | None = None,
               speed: float = 1.0) -> str:
        """Record a new queued job: its chapters and every chunk of the selected ones, planned."""
        job_id = new_job_id()
        pack = LANGUAGES.get(lang)
        rules = pack.chunking if pack is not None else ChunkRules()  # where long sentences are cut
        folder = self.folder(job_id)
        (folder / "chunks").mkdir(parents=True)
        cover = None
        try:
            if book.cover is not None:
                cover = f"cover.{book.cover.extension}"
                with TempFile(folder / cover) as temp:
                    temp.file.write(book.cover.data)
                    temp.commit()
            now = time.time()
            options = request.options
            with self._transaction() as db:
                db.execute("INSERT INTO jobs (id, status, origin, fingerprint, created_at, updated_at, title, author, "
                           "language, voice, lang, source_name, source_format, request, cover) "
                           "VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (job_id, origin, fingerprint, now, now, options.title or book.title,
                            options.author or book.author, book.language, voice, lang, source_name, book.format,
                            request.to_json(), cover))
                for number, chapter in enumerate(book.chapters, 1):
                    chosen = number in selected
                    db.execute("INSERT INTO chapters VALUES (?, ?, ?, ?, ?, ?)",
                               (job_id, number, chapter.title, chapter.kind, int(chosen), chapter.text))
                    if not chosen:
                        continue
                    (folder / "chunks" / str(number)).mkdir()
                    db.executemany("INSERT INTO chunks (job_id, chapter, idx, start, end, pause) VALUES (?, ?, ?, ?, ?, ?)",
                                   [(job_id, number, i, p.start, p.end, round(p.pause_seconds(speed) * SAMPLE_RATE))
                                    for i, p in enumerate(plan_chapter(chapter.text, rules=rules))])
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return job_id

    # -- running ---------------------------------------------------------------------------
    def claim(self, job_id: str) -> bool:
        """Take a queued job (or one whose owner died) for this process; False if another has it."""
        with self._transaction() as db:
            row = db.execute("SELECT status, owner FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row[0] in TERMINAL:
                return False
            if row[0] == "running" and row[1] != self.owner.token and Owner.alive(self.root / "owners", row[1]):
                return False
            done = db.execute("SELECT COALESCE(SUM(end - start), 0) FROM chunks WHERE job_id = ? AND done = 1",
                              (job_id,)).fetchone()[0]
            now = time.time()
            db.execute("UPDATE jobs SET status = 'running', phase = 'synthesizing', owner = ?, error = NULL, "
                       "started_at = COALESCE(started_at, ?), updated_at = ?, run_started_at = ?, "
                       "run_chars_at_start = ? WHERE id = ?", (self.owner.token, now, now, now, done, job_id))
        return True

    def orphans(self) -> list[str]:
        """Jobs marked running whose owner process is gone (killed, crashed, or powered off)."""
        rows = self._query("SELECT id, owner FROM jobs WHERE status = 'running'")
        return [r["id"] for r in rows
                if r["owner"] != self.owner.token and not Owner.alive(self.root / "owners", r["owner"])]

    def runnable(self, origin: str = "api") -> list[str]:
        """Queued jobs of ``origin``, oldest first."""
        return [r["id"] for r in self._query("SELECT id FROM jobs WHERE status = 'queued' AND origin = ? "
                                             "ORDER BY created_at", (origin,))]

    def set_status(self, job_id: str, status: JobStatus, *, error: str | None = None, phase: str | None = None,
                   only_from: tuple[str, ...] | None = None) -> bool:
        """Change a job's status (from one of ``only_from``, if given); False if it did not change."""
        now = time.time()
        finished = now if status in TERMINAL else None
        owner = self.owner.token if status == "running" else None
        sql = ("UPDATE jobs SET status = ?, error = ?, phase = ?, updated_at = ?, finished_at = ?, owner = ? "
               "WHERE id = ?")
        params: tuple = (status, error, phase, now, finished, owner, job_id)
        if only_from:
            sql += f" AND status IN ({', '.join('?' * len(only_from))})"
            params += tuple(only_from)
        with self._transaction() as db:
            return db.execute(sql, params).rowcount > 0

    def set_phase(self, job_id: str, phase: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE jobs SET phase = ?, updated_at = ? WHERE id = ?", (phase, time.time(), job_id))

    def status(self, job_id: str) -> str | None:
        rows = self._query("SELECT status FROM jobs WHERE id = ?", (job_id,))
        return rows[0]["status"] if rows else None

    def _may_record(self, job_id: str) -> bool:
        rows = self._query("SELECT status, owner FROM jobs WHERE id = ?", (job_id,))
        return bool(rows) and (rows[0]["status"] == "cancelled" or
                               (rows[0]["status"] == "running" and rows[0]["owner"] == self.owner.token))

    def still_mine(self, job_id: str) -> bool:
        rows = self._query("SELECT status, owner FROM jobs WHERE id = ?", (job_id,))
        return bool(rows) and rows[0]["status"] == "running" and rows[0]["owner"] == self.owner.token

    def pending(self, job_id: str) -> list[ChunkTask]:
        """The selected chunks not done, in reading order; a chunk marked done whose file is gone or
        short is marked undone first (it will be made again)."""
        self._recheck_files(job_id)
        texts = {r["number"]: r["text"] for r in self._query(
            "SELECT number, text FROM chapters WHERE job_id = ? AND selected = 1", (job_id,))}
        rows = self._query("SELECT chapter, idx, start, end, pause FROM chunks WHERE job_id = ? AND done = 0 "
                           "ORDER BY chapter, idx", (job_id,))
        return [ChunkTask(job_id, r["chapter"], r["idx"], r["start"], texts[r["chapter"]][r["start"]:r["end"]],
                          r["pause"]) for r in rows]

    def _recheck_files(self, job_id: str) -> None:
        rows = self._query("SELECT chapter, idx, bytes FROM chunks WHERE job_id = ? AND done = 1", (job_id,))
        lost = []
        for r in rows:
            path = self.chunk_path(job_id, r["chapter"], r["idx"])
            try:
                if path.stat().st_size != r["bytes"]:
                    lost.append(r)
            except OSError:
                lost.append(r)
        if lost:
            log.warning("job %s: %d finished chunk(s) lost their audio file; they will be made again", job_id, len(lost))
            with self._transaction() as db:
                db.executemany("UPDATE chunks SET done = 0 WHERE job_id = ? AND chapter = ? AND idx = ?",
                               [(job_id, r["chapter"], r["idx"]) for r in lost])

    def attempt(self, task: ChunkTask) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO attempts VALUES (?, ?, ?, ?, ?)",
                       (task.job_id, task.chapter, task.index, self.owner.token, time.time()))

    def record(self, task: ChunkTask, result: ChunkResult) -> bool:
        """Write the chunk's audio (fsynced, renamed into place), then mark it done. A chunk that ends
        after its job was cancelled is kept too (a resume needs it); False when the job is deleted,
        finished, or run by another process now: nothing is recorded then."""
        if not self._may_record(task.job_id):
            return False
        path = self.chunk_path(task.job_id, task.chapter, task.index)
        data = np.ascontiguousarray(result.audio, dtype="<i2").tobytes()
        try:
            with TempFile(path) as temp:
                temp.file.write(data)
                temp.commit()
        except FileNotFoundError:  # the job's folder was deleted meanwhile
            return False
        fsync_folder(path.parent)
        samples = result.audio.astype(np.float64) / 32768.0
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE chunks SET done = 1, samples = ?, sum_squares = ?, peak = ?, loudness = ?, words = ?, "
                "bytes = ?, seconds = ?, done_at = ? WHERE job_id = ? AND chapter = ? AND idx = ? AND EXISTS "
                "(SELECT 1 FROM jobs WHERE id = ? AND (status = 'cancelled' OR (status = 'running' AND owner = ?)))",
                (len(result.audio), float(np.dot(samples, samples)), float(np.abs(samples).max(initial=0.0)),
                 result.loudness, None if result.words is None else json.dumps(result.words, separators=(",", ":")),
                 len(data), result.seconds, time.time(), task.job_id, task.chapter, task.index, task.job_id,
                 self.owner.token)).rowcount
            db.execute("UPDATE jobs SET updated_at = ? WHERE id = ?", (time.time(), task.job_id))
        return changed > 0

    def read_chunk(self, job_id: str, chapter: int, index: int) -> np.ndarray:
        return np.fromfile(self.chunk_path(job_id, chapter, index), dtype="<i2")

    def stored_chunks(self, job_id: str, chapter: int | None = None) -> list[StoredChunk]:
        """The done chunks (of one chapter, or of all selected ones), in reading order."""
        sql = ("SELECT chapter, idx, samples, pause, sum_squares, peak, loudness, words FROM chunks "
               "WHERE job_id = ? AND done = 1")
        params: tuple = (job_id,)
        if chapter is not None:
            sql += " AND chapter = ?"
            params += (chapter,)
        return [StoredChunk(r["chapter"], r["idx"], r["samples"], r["pause"], r["sum_squares"], r["peak"],
                            r["loudness"], None if r["words"] is None else json.loads(r["words"]))
                for r in self._query(sql + " ORDER BY chapter, idx", params)]

    def chapter_texts(self, job_id: str) -> dict[int, tuple[str, str]]:
        """Selected chapters: number -> (title, text)."""
        return {r["number"]: (r["title"], r["text"]) for r in self._query(
            "SELECT number, title, text FROM chapters WHERE job_id = ? AND selected = 1 ORDER BY number", (job_id,))}

    def attempts(self, job_id: str) -> dict[tuple[int, int], int]:
        """How many times each chunk's synthesis was started."""
        return {(r[0], r[1]): r[2] for r in self._query(
            "SELECT chapter, idx, COUNT(*) FROM attempts WHERE job_id = ? GROUP BY chapter, idx", (job_id,))}

    def set_outputs(self, job_id: str, levels: dict[str, float | None] | None = None) -> None:
        """Count the outputs' bytes (and keep the finished audio's levels)."""
        size = folder_bytes(self.output_folder(job_id))
        with self._transaction() as db:
            db.execute("UPDATE jobs SET output_bytes = ?, levels = COALESCE(?, levels), updated_at = ? WHERE id = ?",
                       (size, None if levels is None else json.dumps(levels), time.time(), job_id))

    def cover(self, job_id: str) -> Path | None:
        rows = self._query("SELECT cover FROM jobs WHERE id = ?", (job_id,))
        return self.folder(job_id) / rows[0]["cover"] if rows and rows[0]["cover"] else None

    # -- reading ---------------------------------------------------------------------------
    def find(self, *, fingerprint: str, origin: str) -> str | None:
        rows = self._query("SELECT id FROM jobs WHERE fingerprint = ? AND origin = ? ORDER BY created_at DESC",
                           (fingerprint, origin))
        return rows[0]["id"] if rows else None

    def ids(self) -> list[str]:
        return [r["id"] for r in self._query("SELECT id FROM jobs ORDER BY created_at DESC")]

    def view(self, job_id: str, ttl_s: float | None = None) -> JobView:
        rows = self._query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise NotFoundError(f"no job {job_id!r} (it may have expired or been deleted)", param="id")
        job = rows[0]
        totals = {(r["chapter"]): r for r in self._query(
            "SELECT chapter, COUNT(*) AS chunks, SUM(done) AS chunks_done, SUM(end - start) AS chars, "
            "SUM(CASE WHEN done = 1 THEN end - start ELSE 0 END) AS chars_done, "
            "SUM(CASE WHEN done = 1 THEN samples + pause ELSE 0 END) AS samples, "
            "SUM(CASE WHEN done = 1 THEN bytes ELSE 0 END) AS bytes, "
            "SUM(CASE WHEN done = 1 AND words IS NULL THEN 1 ELSE 0 END) AS no_words "
            "FROM chunks WHERE job_id = ? GROUP BY chapter", (job_id,))}
        chapters = []
        for r in self._query("SELECT number, title, kind, selected FROM chapters WHERE job_id = ? ORDER BY number",
                             (job_id,)):
            t = totals.get(r["number"])
            chunks, done = (t["chunks"], t["chunks_done"] or 0) if t else (0, 0)
            status = "skipped" if not r["selected"] else "completed" if done == chunks else \
                "running" if done and job["status"] == "running" else "queued"
            chapters.append(ChapterView(r["number"], r["title"], r["kind"], status,  # type: ignore[arg-type]
                                        (t["chars"] or 0) if t else 0, (t["chars_done"] or 0) if t else 0, chunks,
                                        done, ((t["samples"] or 0) if t else 0) / SAMPLE_RATE))
        chars = sum(c.chars for c in chapters)
        chars_done = sum(c.chars_done for c in chapters)
        left = None
        if job["status"] == "running" and job["run_started_at"]:
            made = chars_done - job["run_chars_at_start"]
            elapsed = time.time() - job["run_started_at"]
            if made > 0 and elapsed > 0:
                left = round((chars - chars_done) / (made / elapsed), 1)
        chunk_bytes = sum((t["bytes"] or 0) for t in totals.values())
        expires = job["finished_at"] + ttl_s if ttl_s and job["finished_at"] else None
        request = JobRequest.from_json(job["request"])
        return JobView(job["id"], job["status"], job["origin"], job["created_at"], job["updated_at"],
                       job["started_at"], job["finished_at"], job["title"], job["author"], job["language"],
                       job["voice"], job["lang"], job["source_name"], job["source_format"], request, job["error"],
                       job["phase"] if job["status"] == "running" else None, tuple(chapters), chars, chars_done,
                       round(sum(c.audio_seconds for c in chapters), 3), left, chunk_bytes + job["output_bytes"],
                       bool(job["cover"]), not any((t["no_words"] or 0) for t in totals.values()), expires,
                       json.loads(job["levels"]) if job["levels"] else None)

    # -- removing --------------------------------------------------------------------------
    def delete(self, job_id: str) -> None:
        with self._transaction() as db:
            if db.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount == 0:
                raise NotFoundError(f"no job {job_id!r}", param="id")
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def expired(self, ttl_s: float) -> list[str]:
        cutoff = time.time() - ttl_s
        statuses = ", ".join(f"'{s}'" for s in TERMINAL)
        return [r["id"] for r in self._query(f"SELECT id FROM jobs WHERE status IN ({statuses}) "
                                             "AND finished_at < ?", (cutoff,))]

    def disk_bytes(self) -> int:
        """Bytes the jobs hold: finished chunks' audio and the outputs made."""
        rows = self._query("SELECT (SELECT COALESCE(SUM(bytes), 0) FROM chunks WHERE done = 1) + "
                           "(SELECT COALESCE(SUM(output_bytes), 0) FROM jobs) AS total")
        return int(rows[0]["total"])

    def check_room(self, needed: int, *, reserve: int = 256 * 1024 * 1024) -> None:
        """Refuse (507-like 4xx) a job whose estimated audio would pass the disk limit or the free space."""
        used = self.disk_bytes()
        if self.max_disk_bytes and used + needed > self.max_disk_bytes:
            raise DiskFullError(f"the job needs about {needed // 2**20} MiB of disk, and jobs hold "
                                f"{used // 2**20} of {self.max_disk_bytes // 2**20} MiB (KOKORO_JOB_MAX_DISK_BYTES); "
                                "delete finished jobs or raise the limit")
        free = shutil.disk_usage(self.root).free
        if needed + reserve > free:
            raise DiskFullError(f"the job needs about {needed // 2**20} MiB of disk, and only {free // 2**20} MiB "
                                f"are free in {self.root}")


class DiskFullError(KokoroError):
    """A job that would not fit the disk: refused before it starts (or failed, if the disk fills)."""

    status_code = 413
    code = "insufficient_storage"


class JobStateError(ConflictError):
    code = "job_state"


def folder_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*") if folder.is_dir() else ():
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            continue
    return total


def parse_selection(spec: str | None, count: int) -> set[int]:
    """``"1-3,5"`` -> {1, 2, 3, 5}; numbers outside 1..count are an error."""
    if spec is None or not spec.strip():
        return set(range(1, count + 1))
    chosen: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        first, sep, last = part.partition("-")
        try:
            low = int(first)
            high = int(last) if sep else low
        except ValueError:
            raise InvalidInputError(f"chapters {spec!r}: use numbers and ranges such as 1-3,5", param="chapters") from None
        if not (1 <= low <= high <= count):
            raise InvalidInputError(f"chapters {spec!r}: the book has chapters 1 to {count}", param="chapters")
        chosen.update(range(low, high + 1))
    return chosen
