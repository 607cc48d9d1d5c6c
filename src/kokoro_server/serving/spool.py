"""A whole-file answer's bytes, kept while it is made: in memory up to a few MB, then in a spool file.

``stream: false``, ``/v1/audio/captions`` with a kept clip and ``/dev/captioned_speech`` answer with
one complete file, so its bytes must be kept until the last chunk is synthesized. A :class:`Spool`
receives them as a sink of the synthesis stream (in the worker thread), keeps the first
:data:`MEMORY_BYTES` in memory and moves to a file past that: ``<data dir>/spool/.answer.<random>.tmp``
(the name rule is ``files.SPOOL_PREFIX``; the file is locked while in use, deleted when the answer has
been sent, and the start-up sweep deletes those a killed server left). Memory thus stays the same
whatever the length of the answer. A WAV's open-ended header is set to the real sizes
(:func:`~kokoro_server.audio.encoders.seal_file`) when the stream ends.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from kokoro_server.audio.encoders import AudioFormat, seal_file
from kokoro_server.errors import StorageError
from kokoro_server.files import create_spool_file


MEMORY_BYTES = 4 * 1024 * 1024  # an answer up to this size never touches the disk
READ_BYTES = 256 * 1024  # what one read of the answer hands the response (a multiple of 3: base64 blocks)


class Spool:
    """One answer's bytes in order; :meth:`close` deletes them. Written by one thread at a time."""

    def __init__(self, fmt: AudioFormat, folders: Sequence[Path], *, memory_bytes: int = MEMORY_BYTES) -> None:
        self.format = fmt
        self._folders = tuple(folders)
        self._memory_bytes = memory_bytes
        self._handle: BinaryIO = io.BytesIO()
        self.path: Path | None = None  # the spool file, once the answer outgrew memory
        self.size = 0
        self.complete = False
        self._lock = threading.Lock()  # the worker thread writes while the event loop may close it
        self._closed = False

    # -- the stream's sink (worker thread) -------------------------------------------------
    def write(self, data: bytes) -> None:
        with self._lock:
            if not data or self._closed:  # closed: the client left, the bytes go nowhere
                return
            if self.path is None and self.size + len(data) > self._memory_bytes:
                self._spill()
            try:
                self._handle.write(data)
            except OSError as exc:
                raise StorageError(f"the answer could not be kept on disk ({exc.strerror or exc}): "
                                   f"{self.path}") from None
            self.size += len(data)

    def finish(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                seal_file(self.format, self._handle, self.size)
                self._handle.flush()
            except OSError as exc:
                raise StorageError(f"the answer could not be kept on disk ({exc.strerror or exc}): "
                                   f"{self.path}") from None
            self.complete = True

    def abort(self) -> None:
        """The stream failed or its client left: the bytes will not be sent."""
        self.close()

    # -- the response (read after the stream ended) ----------------------------------------
    def blocks(self, size: int = READ_BYTES) -> Iterator[bytes]:
        """The answer's bytes from the start, ``size`` at a time (blocking reads: run each in a thread
        or iterate with :meth:`read`)."""
        self._handle.seek(0)
        while block := self._handle.read(size):
            yield block

    def rewind(self) -> None:
        self._handle.seek(0)

    def read(self, size: int = READ_BYTES) -> bytes:
        return self._handle.read(size)

    def getvalue(self) -> bytes:
        """All of it (for answers known to be small)."""
        self._handle.seek(0)
        return self._handle.read()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if not self._handle.closed:
                self._handle.close()
            if self.path is not None:
                self.path.unlink(missing_ok=True)

    def _spill(self) -> None:
        """Move what is in memory to a new spool file in the first folder that takes it."""
        problems = []
        for folder in self._folders:
            try:
                fd, path = create_spool_file(folder)
            except OSError as exc:
                problems.append(f"{folder}: {exc.strerror or exc}")
                continue
            handle = os.fdopen(fd, "w+b")
            try:
                handle.write(self._handle.getvalue())  # type: ignore[attr-defined]
            except OSError as exc:
                handle.close()
                path.unlink(missing_ok=True)
                problems.append(f"{path}: {exc.strerror or exc}")
                continue
            self._handle.close()
            self._handle, self.path = handle, path
            return
        raise StorageError("no folder takes the spool file of a whole-file answer: " + "; ".join(problems))
