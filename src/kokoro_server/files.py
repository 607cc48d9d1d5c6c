"""File helpers: SHA-256 of a file, fsync, atomic writes (a reader sees the old file or the new one)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def unchanged(path: Path, size: int, mtime_ns: int, sha256: str) -> bool:
    """Whether ``path`` still holds the bytes recorded as (size, mtime, SHA-256): the same size and
    mtime say so cheaply; a touched or copied file is hashed. Raises OSError if it cannot be read."""
    stat = path.stat()
    if (stat.st_size, stat.st_mtime_ns) == (size, mtime_ns):
        return True
    return stat.st_size == size and file_sha256(path) == sha256


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it, then rename it over ``path`` (mode 644)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(name, 0o644)
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)
