"""The optimized ONNX graph, saved once beside the model and reused by later sessions and starts.

Most of an ONNX Runtime session's start-up goes into optimizing the graph (fusions, a memory layout
for this CPU). ``SessionOptions.optimized_model_filepath`` saves the result; a session built from it
with the optimizers off starts about twice as fast. A saved graph is only valid for the same source
model, onnxruntime version, optimization level and CPU (the NCHWc layout transform is hardware
specific): those make up its :class:`Fingerprint`, which names its files, so machines of different
CPUs sharing one data dir each keep (and clean up) only their own. It lives in ``.optimized/`` beside the model,
written atomically under a content-addressed name with a manifest that records its SHA-256, and it
is verified byte for byte on every load. Anything stale, missing or corrupt is deleted and the
caller builds the session from the original model again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from kokoro_server.files import TempFile, file_sha256, unchanged, write_atomic

log = logging.getLogger("kokoro_server.engine")

FOLDER = ".optimized"
FORMAT = 1  # bump when what is saved changes meaning


@dataclass(frozen=True)
class Fingerprint:
    """Everything besides the source model's bytes that a saved graph depends on."""

    onnxruntime: str
    level: str  # the graph optimization level it was saved with
    cpu: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@lru_cache(maxsize=1)
def cpu_signature() -> str:
    """The CPU architecture and its feature flags (as a short digest), which layout choices follow."""
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(("flags", "Features")):
                flags = " ".join(sorted(line.split(":", 1)[1].split()))
                break
    except OSError:
        flags = platform.processor()
    return f"{platform.machine()}-{hashlib.sha256(flags.encode()).hexdigest()[:12]}"


@dataclass
class Manifest:
    """What ``<model>.<fingerprint>.json`` in the cache folder records about the saved graph."""

    source_size: int
    source_mtime_ns: int
    source_sha256: str
    fingerprint: Fingerprint
    graph_file: str
    graph_size: int
    graph_sha256: str

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Raises ValueError, KeyError or TypeError unless ``text`` is a manifest of this format."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.pop("format", None) != FORMAT:
            raise ValueError("not a manifest of this format")
        data["fingerprint"] = Fingerprint(**data["fingerprint"])
        manifest = cls(**data)
        if not (isinstance(manifest.graph_file, str) and "/" not in manifest.graph_file
                and isinstance(manifest.graph_sha256, str) and isinstance(manifest.source_sha256, str)):
            raise ValueError("malformed manifest")
        return manifest


class GraphCache:
    """The saved optimized graph of one model file."""

    def __init__(self, model_path: Path, fingerprint: Fingerprint) -> None:
        self.model_path = model_path
        self.fingerprint = fingerprint
        self.folder = model_path.parent / FOLDER
        # per fingerprint: replicas on other CPUs (or runtimes) sharing the data dir keep their own
        self.manifest_path = self.folder / f"{model_path.name}.{fingerprint.digest}.json"

    # -- reading ---------------------------------------------------------------------------
    def load(self) -> Path | None:
        """The saved graph, verified against the manifest; None (after cleaning up) if unusable."""
        try:
            manifest = Manifest.from_json(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            manifest = None
        problem = "its manifest is unreadable" if manifest is None else self._stale(manifest)
        if manifest is not None and problem is None:
            graph = self.folder / manifest.graph_file
            try:
                if graph.stat().st_size == manifest.graph_size and file_sha256(graph) == manifest.graph_sha256:
                    return graph
                problem = "its file is corrupt (size or SHA-256 differ)"
            except OSError:
                problem = "its file is missing"
        log.warning("not using the saved optimized graph of %s: %s; optimizing again", self.model_path.name, problem)
        self.discard()
        return None

    def _stale(self, manifest: Manifest) -> str | None:
        """Why the saved graph does not belong to this model and runtime, or None if it does."""
        if manifest.fingerprint != self.fingerprint:
            return "it was made by another onnxruntime version, optimization level or CPU"
        try:
            if not unchanged(self.model_path, manifest.source_size, manifest.source_mtime_ns,
                             manifest.source_sha256):
                return "the model file changed"
            mtime_ns = self.model_path.stat().st_mtime_ns
        except OSError:
            return "the model file cannot be read"
        if mtime_ns != manifest.source_mtime_ns:  # touched, same bytes: the next start need not hash it
            manifest.source_mtime_ns = mtime_ns
            try:
                self._write_manifest(manifest)
            except OSError:
                pass
        return None

    # -- writing ---------------------------------------------------------------------------
    def new_target(self) -> TempFile | None:
        """A fresh temp file for onnxruntime to save the optimized graph to (None: not writable)."""
        try:
            self.folder.mkdir(exist_ok=True)
            return TempFile(self.folder / self.model_path.name)
        except OSError as exc:
            log.info("cannot save the optimized graph beside %s (%s); sessions will optimize at each start",
                     self.model_path, exc.strerror)
            return None

    def commit(self, target: TempFile) -> Path | None:
        """Install the graph onnxruntime saved in ``target`` and record it; its path, or None on failure."""
        with target:
            try:
                source_stat = self.model_path.stat()
                source_sha256 = file_sha256(self.model_path)
                size = target.path.stat().st_size
                if not size:
                    return None
                digest = file_sha256(target.path)
                name = f"{self.model_path.name}.{self.fingerprint.digest}.{digest[:12]}.onnx"
                graph = target.commit(self.folder / name)
                self._write_manifest(Manifest(source_stat.st_size, source_stat.st_mtime_ns, source_sha256,
                                              self.fingerprint, name, size, digest))
                self._remove_others(keep=name)
                return graph
            except OSError as exc:
                log.info("cannot save the optimized graph of %s (%s)", self.model_path.name, exc.strerror)
                return None

    def _write_manifest(self, manifest: Manifest) -> None:
        write_atomic(self.manifest_path, manifest.to_json().encode())

    def discard(self) -> None:
        """Forget the saved graph of this model (manifest and files)."""
        try:
            self.manifest_path.unlink(missing_ok=True)
        except OSError:
            pass
        self._remove_others(keep=None)

    def _remove_others(self, keep: str | None) -> None:
        """Delete this fingerprint's graphs but ``keep``; those of other fingerprints are never touched."""
        try:
            for path in self.folder.glob(f"{self.model_path.name}.{self.fingerprint.digest}.*.onnx"):
                if path.name != keep:
                    path.unlink(missing_ok=True)
        except OSError:
            pass
