"""The derived-model store: every model file kokoro-server derives, in one folder per model folder.

``models/<version>/.derived/`` holds, per derived file, ``<source>.<key>.onnx`` and its manifest
``<source>.<key>.json``. The :class:`Key` says what the file is: the source file it was derived
from, the recipes applied (``name/version``, in order), whether it is onnxruntime's optimized
graph, and what it is valid for: the CPU kind, the execution provider and the onnxruntime version
(``any`` for a portable graph). The manifest also records the source's size, mtime and SHA-256,
the file's size and SHA-256, what the derivation checked and measured, and why the file runs.

An entry is used only while its source is unchanged (same size and mtime, or same SHA-256) and its
file's bytes verify; a stale, unreadable or corrupt entry is deleted (and derived again by whoever
wants it). Files go in through :class:`~kokoro_server.files.TempFile` (``.<name>.<random>.tmp``,
the one temp-name rule the start-up sweep knows), the file first, then its manifest: a manifest
never names a file that is not complete. Entries for other CPUs, providers or runtimes (a data dir
shared by several machines) are never touched, except to retire the ones no current setting can use
on any machine (a recipe version that is no longer registered).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kokoro_server.datadir import DERIVED_FOLDER
from kokoro_server.engine.derived.recipes import RECIPES
from kokoro_server.files import TempFile, file_sha256, unchanged, write_atomic

log = logging.getLogger("kokoro_server.engine")

FOLDER = DERIVED_FOLDER
FORMAT = 1  # bump when the manifest's meaning changes
ANY = "any"  # a key part a portable file does not depend on
LOCK_NAME = ".derive.lock"


@dataclass(frozen=True)
class Key:
    """What a derived file is and what it is valid for."""

    source: str  # the source file's name in models/<version>/
    recipes: tuple[str, ...]  # "name/version" of the recipes asked for, in order
    graph: bool  # onnxruntime's optimized graph (load with optimizations off)
    cpu: str  # cpus.cpu_kind(), or ANY
    provider: str  # "cpu", "cuda", ..., or ANY
    onnxruntime: str  # the version, or ANY

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    @property
    def stem(self) -> str:
        return f"{self.source}.{self.digest}"

    def describe(self) -> str:
        made = " + ".join(self.recipes) or "no recipe"
        where = "any machine" if self.cpu == ANY else f"CPU {self.cpu}, {self.provider}, onnxruntime {self.onnxruntime}"
        return f"{made}{', optimized graph' if self.graph else ''} ({where})"


@dataclass
class Entry:
    """A manifest: one derived file (or the record that none could be made, ``file`` None)."""

    key: Key
    source_size: int
    source_mtime_ns: int
    source_sha256: str
    file: str | None  # the derived file's name in the store's folder; None: nothing to run, see reason
    size: int = 0
    sha256: str = ""
    applied: list[str] = field(default_factory=list)  # the recipes it holds (asked for, less dropped)
    dropped: dict[str, str] = field(default_factory=dict)  # recipe -> why it is not in the file
    reason: str = ""  # why this file runs, for `kokoro-server models` and the log
    durations_problem: str | None = None  # why the file has no durations output (None: it has one)
    facts: dict[str, Any] = field(default_factory=dict)  # what recipes and checks recorded
    created: str = ""

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Entry:
        """Raises ValueError, KeyError or TypeError unless ``text`` is a manifest of this format."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.pop("format", None) != FORMAT:
            raise ValueError("not a manifest of this format")
        key = data.pop("key")
        data["key"] = Key(**{**key, "recipes": tuple(key["recipes"])})
        entry = cls(**data)
        if entry.file is not None and (not isinstance(entry.file, str) or "/" in entry.file):
            raise ValueError("malformed manifest")
        return entry


@dataclass(frozen=True)
class Found:
    """What :meth:`DerivedStore.read` found: the entry, its file, or why there is none."""

    entry: Entry | None
    path: Path | None  # the verified file (None: no file, or not usable)
    problem: str | None  # why an entry that was there is not used (None: nothing was there, or it is fine)


class DerivedStore:
    """The derived files of the models in one ``models/<version>/`` folder."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = models_dir
        self.folder = models_dir / FOLDER

    def manifest_path(self, key: Key) -> Path:
        return self.folder / f"{key.stem}.json"

    def file_path(self, key: Key) -> Path:
        return self.folder / f"{key.stem}.onnx"

    # -- reading ---------------------------------------------------------------------------
    def read(self, key: Key, source: Path, *, verify_file: bool = True) -> Found:
        """The entry for ``key`` if it belongs to ``source`` as it is now and its file verifies;
        a stale or corrupt one is deleted (the reason is logged and returned)."""
        manifest = self.manifest_path(key)
        try:
            entry = Entry.from_json(manifest.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            return Found(None, None, None)
        except (OSError, ValueError, KeyError, TypeError):
            return self._stale(key, "its manifest is unreadable")
        if entry.key != key:
            return self._stale(key, "its manifest records another key")
        try:
            if not unchanged(source, entry.source_size, entry.source_mtime_ns, entry.source_sha256):
                return self._stale(key, f"{source.name} changed since it was derived")
            mtime_ns = source.stat().st_mtime_ns
        except OSError as exc:
            return Found(entry, None, f"{source.name} cannot be read ({exc.strerror})")
        if mtime_ns != entry.source_mtime_ns:  # touched, same bytes: the next read need not hash it
            entry.source_mtime_ns = mtime_ns
            try:
                write_atomic(manifest, entry.to_json().encode())
            except OSError:
                pass
        if entry.file is None:
            return Found(entry, None, None)
        path = self.folder / entry.file
        try:
            if path.stat().st_size != entry.size or (verify_file and file_sha256(path) != entry.sha256):
                return self._stale(key, "its file is corrupt (size or SHA-256 differ)")
        except OSError:
            return self._stale(key, "its file is missing")
        return Found(entry, path, None)

    def _stale(self, key: Key, problem: str) -> Found:
        log.warning("derived model %s (%s) is not used: %s; it is derived again", key.stem, key.describe(), problem)
        self.discard(key)
        return Found(None, None, problem)

    def entries(self) -> list[tuple[Path, Entry | None]]:
        """Every manifest of the folder (None where unreadable), for listings."""
        try:
            paths = sorted(p for p in self.folder.glob("*.json") if not p.name.startswith("."))
        except OSError:
            return []
        found = []
        for path in paths:
            try:
                found.append((path, Entry.from_json(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, KeyError, TypeError):
                found.append((path, None))
        return found

    def disk_usage(self) -> int:
        """Bytes of everything in the store's folder (temp files of live derivations included)."""
        try:
            return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())
        except OSError:
            return 0

    # -- writing ---------------------------------------------------------------------------
    def new_file(self, key: Key) -> TempFile:
        """A temp file for the derived file of ``key`` (raises OSError when the folder is not writable)."""
        self.folder.mkdir(exist_ok=True)
        return TempFile(self.file_path(key))

    def commit(self, entry: Entry, source: Path, temp: TempFile | None) -> Entry:
        """Install the file in ``temp`` (None: record a decision without a file) and then its manifest,
        both atomically; the source's identity is taken now. Retires what this entry supersedes."""
        key = entry.key
        self.folder.mkdir(exist_ok=True)
        self.manifest_path(key).unlink(missing_ok=True)  # a manifest is never ahead of its file
        stat = source.stat()
        entry.source_size, entry.source_mtime_ns = stat.st_size, stat.st_mtime_ns
        entry.source_sha256 = file_sha256(source)
        entry.created = entry.created or datetime.now(timezone.utc).isoformat(timespec="seconds")
        if temp is not None:
            temp.file.seek(0, os.SEEK_END)
            entry.size = temp.file.tell()
            temp.file.flush()
            entry.sha256 = file_sha256(temp.path)
            temp.commit(self.file_path(key))
            entry.file = self.file_path(key).name
        else:
            self.file_path(key).unlink(missing_ok=True)
            entry.file = None
        write_atomic(self.manifest_path(key), entry.to_json().encode())
        self.retire(keep=key)
        return entry

    def write_bytes(self, entry: Entry, source: Path, data: bytes) -> Entry:
        with self.new_file(entry.key) as temp:
            temp.file.write(data)
            return self.commit(entry, source, temp)

    def discard(self, key: Key) -> None:
        for path in (self.manifest_path(key), self.file_path(key)):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass

    def retire(self, keep: Key | None = None) -> list[Path]:
        """Delete entries no setting can use any more: made with a registered recipe's older version,
        or (when ``keep`` was just made) for the same source, CPU and provider by another onnxruntime
        version (this machine's upgrade). Entries of other CPUs and providers stay (another machine
        may share this folder)."""
        removed = []
        for path, entry in self.entries():
            if entry is None or entry.key == keep:
                continue
            outdated = any(RECIPES[name].id != rid for rid in entry.key.recipes
                           if (name := rid.split("/", 1)[0]) in RECIPES)
            theirs = entry.key
            upgraded = keep is not None and ANY not in (keep.cpu, keep.onnxruntime) and (
                theirs.source, theirs.cpu, theirs.provider) == (keep.source, keep.cpu, keep.provider) \
                and theirs.onnxruntime != keep.onnxruntime
            if outdated or upgraded:
                self.discard(entry.key)
                removed.append(path)
        return removed

    @contextmanager
    def lock(self, *, wait: bool = True) -> Iterator[bool]:
        """Held by whoever derives into this folder (one derivation at a time, across processes);
        yields False when ``wait`` is False and another process holds it."""
        self.folder.mkdir(exist_ok=True)
        fd = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)
