"""Files kept for ``return_download_link``: a folder bounded in time and in total size.

Each server keeps its files in its own folder under ``<data dir>/downloads/``, deleted when it
stops; the folder of a server that was killed outright is deleted by the next server to start.

A :class:`DownloadWriter` is fed the encoded bytes of one response as they are produced (from a
worker thread) and publishes the complete file when the response ends; a file larger than the
whole budget is dropped, and publishing evicts the oldest files until the total fits. Files expire
``ttl_s`` seconds after they were published. Names are random (128 bits), so a link is the key.
A download in another format than the response is encoded a second time by :class:`CopyingEncoder`.

A *shared* folder (``KOKORO_DOWNLOAD_DIR``, e.g. under the data dir that every replica of a cluster
reads) is also used by other processes: a file this store does not know is served if it is complete
(published files appear by an atomic rename) and younger than ``ttl_s`` by its modification time,
expired files are deleted whoever made them, and closing deletes only this store's own files. The
size budget counts each process's own files.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from kokoro_server.audio.encoders import FORMATS, AudioFormat, StreamingEncoder, seal_file
from kokoro_server.errors import NotFoundError, quote
from kokoro_server.files import STALE_AFTER_S, unlocked_since, write_atomic
from kokoro_server.settings import Settings

log = logging.getLogger(__name__)

ROUTE = "/download"  # under /v1: X-Download-Path is relative to /v1 (as Kokoro-FastAPI sends it)
FOLDER_PREFIX = "server-"  # <data dir>/downloads/server-<pid>-<random>/, one per running server
STAGING_PREFIX = ".new-"
LOCK_NAME = ".lock"
CONTENT_TYPES = {f.extension: f.content_type for f in FORMATS.values()}
_NAME = re.compile(r"[A-Za-z0-9_-]+\.([a-z0-9]+)")


@dataclass(frozen=True)
class Download:
    name: str
    path: Path
    size: int
    content_type: str
    expires: float  # on the store's clock


class DownloadStore:
    def __init__(self, folder: Path, *, ttl_s: float, max_bytes: int,
                 clock: Callable[[], float] = time.monotonic, shared: bool = False) -> None:
        self.folder = folder
        self.shared = shared
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self._clock = clock
        self._files: OrderedDict[str, Download] = OrderedDict()  # oldest first
        self._writing: set[str] = set()
        self._lock = threading.Lock()
        self._folder_lock: BinaryIO | None = None  # held while the folder is in use (see sweep_store_folders)
        folder.mkdir(parents=True, exist_ok=True)

    @classmethod
    def under(cls, parents: Sequence[Path], *, ttl_s: float, max_bytes: int) -> DownloadStore:
        """A private folder (0700) for this server in the first writable of ``parents``, locked for the
        server's life; the folders of servers killed outright are deleted first."""
        problems = []
        for parent in parents:
            try:
                parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                sweep_store_folders(parent)
                staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent))
                lock = (staging / LOCK_NAME).open("wb")
            except OSError as exc:
                problems.append(f"{parent}: {exc.strerror or exc}")
                continue
            # locked before it gets the name the sweep looks at, so no sweep ever sees it unlocked
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            folder = parent / f"{FOLDER_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
            staging.rename(folder)
            if problems:
                log.warning("keeping downloads in %s (%s)", folder, "; ".join(problems))
            store = cls(folder, ttl_s=ttl_s, max_bytes=max_bytes)
            store._folder_lock = lock
            return store
        raise OSError(f"no writable folder for downloads: {'; '.join(problems)}")

    @classmethod
    def for_settings(cls, settings: Settings, parents: Sequence[Path]) -> DownloadStore:
        """``KOKORO_DOWNLOAD_DIR`` as a folder shared by every server using it if set, else a private
        folder of this server's in the first writable of ``parents`` (see :meth:`under`)."""
        if settings.download_dir is None:
            return cls.under(parents, ttl_s=settings.download_ttl_s, max_bytes=settings.download_max_bytes)
        return cls(settings.download_dir, ttl_s=settings.download_ttl_s, max_bytes=settings.download_max_bytes,
                   shared=True)

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return sum(d.size for d in self._files.values())

    def open(self, fmt: AudioFormat) -> DownloadWriter:
        return DownloadWriter(self, f"{secrets.token_urlsafe(16)}.{fmt.extension}", fmt)

    def reserve(self, name: str) -> str:
        """Announce a small file that :meth:`put` publishes later (until then GET says it is being
        written), e.g. the captions of a kept clip; its URL path."""
        self._begin(name)
        return f"{ROUTE}/{name}"

    def put(self, name: str, data: bytes, content_type: str) -> None:
        """Publish a reserved file written in one go; a failed write drops it (never raises)."""
        path = self.folder / name
        try:
            write_atomic(path, data)
        except OSError as exc:
            log.error("download %s dropped: %s", name, exc)
            self._drop(name)
            return
        self._publish(name, path, len(data), content_type)

    def drop(self, name: str) -> None:
        """Give up a reserved name (the response failed)."""
        self._drop(name)

    def get(self, name: str) -> Download:
        self.purge()
        with self._lock:
            found = self._files.get(name)
            writing = name in self._writing
        if found is None and not writing and self.shared:
            found = self._published_elsewhere(name)
        if found is None:
            detail = "is still being written; fetch it when the speech response has ended" if writing else \
                f"does not exist or has expired (files are kept {self.ttl_s:g} s)"
            raise NotFoundError(f"download {quote(name)} {detail}", param="name")
        return found

    def _published_elsewhere(self, name: str) -> Download | None:
        """A complete file another process published in the shared folder, unless it has expired."""
        match = _NAME.fullmatch(name)
        if match is None or match.group(1) not in CONTENT_TYPES:
            return None
        path = self.folder / name
        try:
            stat = path.stat()
        except OSError:
            return None
        left = stat.st_mtime + self.ttl_s - time.time()
        if left <= 0 or not path.is_file():
            return None
        return Download(name, path, stat.st_size, CONTENT_TYPES[match.group(1)], self._clock() + left)

    def purge(self) -> int:
        """Delete expired files (in a shared folder, anyone's); returns how many."""
        now = self._clock()
        with self._lock:
            expired = [d for d in self._files.values() if d.expires <= now]
            for d in expired:
                del self._files[d.name]
            own = set(self._files) | self._writing
        for d in expired:
            d.path.unlink(missing_ok=True)
        count = len(expired)
        if self.shared:
            cutoff = time.time() - self.ttl_s
            for path in self.folder.glob("*.*"):
                try:
                    if path.name not in own and _NAME.fullmatch(path.name) and path.stat().st_mtime <= cutoff:
                        path.unlink()
                        count += 1
                except OSError:  # gone already (another process purged it)
                    pass
        return count

    def close(self) -> None:
        with self._lock:
            mine = list(self._files.values())
            self._files.clear()
        if not self.shared:
            shutil.rmtree(self.folder, ignore_errors=True)
        else:
            for d in mine:
                d.path.unlink(missing_ok=True)
        if self._folder_lock is not None:
            self._folder_lock.close()

    # -- used by writers -------------------------------------------------------------------
    def _begin(self, name: str) -> None:
        with self._lock:
            self._writing.add(name)

    def _publish(self, name: str, path: Path, size: int, content_type: str) -> None:
        evicted: list[Download] = []
        with self._lock:
            self._writing.discard(name)
            self._files[name] = Download(name, path, size, content_type, self._clock() + self.ttl_s)
            total = sum(d.size for d in self._files.values())
            while total > self.max_bytes and len(self._files) > 1:
                _, oldest = self._files.popitem(last=False)
                total -= oldest.size
                evicted.append(oldest)
        for d in evicted:
            d.path.unlink(missing_ok=True)

    def _drop(self, name: str) -> None:
        with self._lock:
            self._writing.discard(name)


def sweep_store_folders(parent: Path) -> list[Path]:
    """Delete the store folders in ``parent`` that no live server holds (their server was killed), and
    staging folders older than :data:`STALE_AFTER_S`."""
    removed = []
    try:
        children = list(parent.iterdir())
    except OSError:
        return removed
    for child in children:
        if child.name.startswith(FOLDER_PREFIX):
            stale = unlocked_since(child / LOCK_NAME, 0) or not (child / LOCK_NAME).exists()
        elif child.name.startswith(STAGING_PREFIX):
            stale = _older_than(child, STALE_AFTER_S)
        else:
            continue
        if stale and child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child)
    if removed:
        log.info("removed the download folders of %d server(s) that were killed: %s", len(removed),
                 ", ".join(str(p) for p in removed))
    return removed


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.lstat().st_mtime >= seconds
    except OSError:
        return False


class DownloadWriter:
    """Receives one response's bytes in order; never raises (a failed write drops the download)."""

    def __init__(self, store: DownloadStore, name: str, fmt: AudioFormat) -> None:
        self.name = name
        self.url_path = f"{ROUTE}/{name}"
        self.format = fmt
        self._store = store
        self._path = store.folder / name
        self._partial = store.folder / f".{name}.part"
        self._handle: BinaryIO | None = None
        self._size = 0
        self._state = "new"  # new | writing | published | dropped

    def write(self, data: bytes) -> None:
        try:
            if self._state == "new":
                self._store._begin(self.name)
                self._state = "writing"
                self._handle = self._partial.open("wb")
            if self._state != "writing" or self._handle is None or not data:
                return
            self._size += len(data)
            if self._size > self._store.max_bytes:
                log.warning("download %s dropped: larger than KOKORO_DOWNLOAD_MAX_BYTES (%d)",
                            self.name, self._store.max_bytes)
                self.abort()
                return
            self._handle.write(data)
        except OSError as exc:
            self._fail(exc)

    def finish(self) -> None:
        self.write(b"")  # opens the file if nothing was written yet
        if self._state != "writing" or self._handle is None:
            return
        try:
            seal_file(self.format, self._handle, self._size)  # a streamed header gets the real sizes
            self._handle.close()
            self._partial.replace(self._path)
        except OSError as exc:
            self._fail(exc)
            return
        self._state = "published"
        self._store._publish(self.name, self._path, self._size, self.format.content_type)

    def abort(self) -> None:
        if self._state in ("published", "dropped"):
            return
        self._state = "dropped"
        if self._handle is not None:
            self._handle.close()
        self._partial.unlink(missing_ok=True)
        self._store._drop(self.name)

    def _fail(self, exc: OSError) -> None:
        log.error("download %s dropped: %s", self.name, exc)
        self.abort()


def encoder_with_download(fmt: AudioFormat, volume: float, writer: DownloadWriter | None
                          ) -> tuple[StreamingEncoder, DownloadWriter | CopySink | None]:
    """The response's encoder and the sink that keeps its download (give both to the runner)."""
    if writer is None:
        return StreamingEncoder(fmt, volume=volume), None
    if writer.format == fmt:  # the download is the response's bytes
        return StreamingEncoder(fmt, volume=volume), writer
    encoder = CopyingEncoder(fmt, volume=volume, writer=writer)
    return encoder, encoder.sink


class CopyingEncoder(StreamingEncoder):
    """The response's encoder that also encodes every chunk into a download in another format.

    Use it with its :attr:`sink` (give both to the runner): the runner finishes the sink when the
    stream ends and aborts it on failure or disconnect, like any download. A failure of the copy
    drops the download, never the response.
    """

    def __init__(self, fmt: AudioFormat, *, volume: float, writer: DownloadWriter) -> None:
        super().__init__(fmt, volume=volume)
        self.sink = CopySink(writer, StreamingEncoder(writer.format, volume=volume))

    def encode(self, audio: np.ndarray) -> bytes:
        data = super().encode(audio)
        self.sink.add(audio)
        return data


class CopySink:
    """Writes the copy's bytes to the download; finishes or drops it when the runner says so."""

    def __init__(self, writer: DownloadWriter, encoder: StreamingEncoder) -> None:
        self._writer = writer
        self._encoder = encoder
        self._failed = False

    def add(self, audio: np.ndarray) -> None:
        self._guarded(lambda: self._writer.write(self._encoder.encode(audio)))

    def write(self, data: bytes) -> None:
        """The response's own bytes: not kept (the copy is encoded from the audio)."""

    def finish(self) -> None:
        self._guarded(lambda: self._writer.write(self._encoder.finish()))
        if not self._failed:
            self._writer.finish()

    def abort(self) -> None:
        self._encoder.close()
        self._writer.abort()

    def _guarded(self, step: Callable[[], None]) -> None:
        if self._failed:
            return
        try:
            step()
        except Exception as exc:  # an encoder error must not break the response being sent
            self._failed = True
            log.error("download %s dropped: encoding the copy failed: %s", self._writer.name, exc)
            self._writer.abort()
