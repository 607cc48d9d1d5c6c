"""File helpers: SHA-256 of a file, fsync, and atomic writes (a reader sees the old file or the new one).

Every file the product writes goes through a :class:`TempFile` beside its target, renamed over it
when complete. The temp file is created as a plain ``open()`` would create it (mode ``0666`` less
the umask; a folder's default ACL applies), and a replaced file keeps its mode; it is locked
(``flock``) for as long as its process holds it, so that :func:`sweep_temp_files` can delete the
ones a killed process left (``kill -9``) without ever touching a live one.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import secrets
import stat
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

log = logging.getLogger("kokoro_server.files")

STALE_AFTER_S = 60.0  # a temp file unlocked and untouched this long belongs to no live process
# ``.<target name>.<8 random characters>.tmp|.part``: TempFile's names (and tempfile.mkstemp's, used before)
TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.(tmp|part)$")
# Whole-file answers spill to disk past a few MB (serving/spool.py): ``<data dir>/spool/.answer.<8 hex>.tmp``,
# a TEMP_NAME, created locked by :func:`create_temp`; the start-up sweep deletes those a killed server left.
SPOOL_FOLDER = "spool"
SPOOL_PREFIX = ".answer."
SPOOL_SUFFIX = ".tmp"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def unchanged(path: Path, size: int, mtime_ns: int, sha256: str) -> bool:
    """Whether ``path`` still holds the bytes recorded as (size, mtime, SHA-256): the same size and
    mtime say so cheaply; a touched or copied file is hashed. Raises OSError if it cannot be read."""
    stat_ = path.stat()
    if (stat_.st_size, stat_.st_mtime_ns) == (size, mtime_ns):
        return True
    return stat_.st_size == size and file_sha256(path) == sha256


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: Path) -> None:
    """fsync a folder, so that a rename into it survives a power cut (best effort: some file systems refuse)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def create_temp(folder: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    """A new file ``<prefix><8 random characters><suffix>`` in ``folder``, opened read-write and locked:
    mode ``0666`` less the umask, as ``open()`` gives (``tempfile.mkstemp`` would give 0600)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        path = folder / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            fd = os.open(path, flags, 0o666)
        except FileExistsError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a file nobody else has opened yet
        except OSError:  # a file system without locks: the sweep's age rule alone protects it
            pass
        return fd, path
    raise FileExistsError(f"no free temporary name in {folder}")


def create_spool_file(folder: Path) -> tuple[int, Path]:
    """A new, locked spool file in ``folder`` (created if missing), named by the one spool rule
    (:data:`SPOOL_PREFIX`, a :data:`TEMP_NAME`, so :func:`sweep_temp_files` knows it)."""
    folder.mkdir(parents=True, exist_ok=True)
    return create_temp(folder, SPOOL_PREFIX, SPOOL_SUFFIX)


def keep_mode(path: Path, target: Path) -> None:
    """Give ``path`` the permission bits of ``target`` if it exists (the file it will replace)."""
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return
    os.chmod(path, mode)


class TempFile:
    """A hidden temp file beside ``target`` (``.<name>.<random><suffix>``), committed by renaming it over
    ``target`` (or another name in the same folder); leaving the ``with`` block uncommitted deletes it."""

    def __init__(self, target: Path, *, suffix: str = ".tmp") -> None:
        fd, self.path = create_temp(target.parent, f".{target.name}.", suffix)
        self.target = target
        self.file: BinaryIO = os.fdopen(fd, "w+b")

    def commit(self, target: Path | None = None) -> Path:
        """fsync the bytes, give them the replaced file's mode, rename over ``target``; the path written."""
        target = target or self.target
        self.file.flush()
        os.fsync(self.file.fileno())
        keep_mode(self.path, target)
        os.replace(self.path, target)
        self.file.close()
        return target

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> TempFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.discard()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it, then rename it over ``path``."""
    with TempFile(path) as temp:
        temp.file.write(data)
        temp.commit()


def unlocked_since(path: Path, seconds: float) -> bool:
    """Whether ``path`` is a regular file untouched for ``seconds`` that no process holds locked."""
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or time.time() - info.st_mtime < seconds:
            return False
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:  # held by a live process
        return False
    finally:
        os.close(fd)


def sweep_temp_files(folders: Iterable[Path], *, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Delete the temp files of ours (:data:`TEMP_NAME`) that killed processes left in ``folders``:
    unlocked and untouched for ``older_than_s``. Returns what was deleted."""
    removed = []
    for folder in folders:
        try:
            candidates = [p for p in folder.iterdir() if TEMP_NAME.match(p.name)]
        except OSError:
            continue
        for path in candidates:
            if unlocked_since(path, older_than_s):
                try:
                    path.unlink()
                except OSError:
                    continue
                removed.append(path)
    if removed:
        log.info("removed %d stale temporary file(s) left by a killed process: %s", len(removed),
                 ", ".join(str(p) for p in removed))
    return removed
