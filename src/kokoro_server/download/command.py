"""``kokoro-server download``: which files a request means, then fetch each into the data dir."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kokoro_server.builds import BUILDS, DEFAULT_VERSION, Build, get_build
from kokoro_server.builds.downloads import WEIGHT_CHOICES, DownloadManifest, HubFile
from kokoro_server.datadir import DataDir
from kokoro_server.download.hub import FetchResult, HubClient
from kokoro_server.errors import (DownloadError, FileProblemError, HubUnreachableError, InvalidInputError,
                                  KokoroError)
from kokoro_server.settings import Settings
from kokoro_server.voices.mix import is_voice_name
from kokoro_server.voices.packs import read_pack_file, validate_pack


@dataclass(frozen=True)
class DownloadRequest:
    version: str = DEFAULT_VERSION
    weights: str | None = None  # pth | onnx | onnx-int8 | none; None: what the version needs to run
    voices: str = "all"  # all | none | NAME,NAME
    revision: str | None = None  # None: the pinned revision of each repository


@dataclass
class DownloadReport:
    fetched: list[FetchResult] = field(default_factory=list)
    failed: list[tuple[HubFile, str]] = field(default_factory=list)

    @property
    def transferred(self) -> int:
        return sum(r.transferred for r in self.fetched)


def plan(request: DownloadRequest, data_dir: DataDir) -> list[HubFile]:
    """The files a request means, in the order they are fetched (config, weights, voices)."""
    build = get_build(request.version)
    files = manifest_of(build)
    wanted = [files.config()]
    weights = _weights_choice(request.weights, files, build, data_dir)
    if weights is not None:
        wanted.append(files.weights[weights])
    wanted += [files.voice(name) for name in parse_voices(request.voices, files)]
    return [f.at(request.revision) for f in wanted]


def _weights_choice(choice: str | None, files: DownloadManifest, build: Build, data_dir: DataDir) -> str | None:
    if choice is None:  # only what the version needs to run at all
        return files.default_weights if not data_dir.present_weights(build) else None
    if choice == "none":
        return None
    if choice not in WEIGHT_CHOICES:
        raise InvalidInputError(f"unknown --weights {choice!r}; use one of: {', '.join(WEIGHT_CHOICES)}, none",
                                param="weights")
    if choice not in files.weights:
        raise InvalidInputError(f"--weights {choice} is not available for {build.version}: "
                                f"{files.notes.get(choice, 'not published')}", param="weights")
    return choice


def manifest_of(build: Build) -> DownloadManifest:
    """The build's download manifest; a version published nowhere cannot be downloaded."""
    if build.downloads is None:
        raise InvalidInputError(f"{build.title} is not published anywhere kokoro-server can download it from; "
                                f"place its files in models/{build.version}/ and voices/{build.version}/",
                                param="model")
    return build.downloads


def parse_voices(spec: str, files: DownloadManifest) -> list[str]:
    spec = spec.strip()
    if spec == "all":
        return list(files.voices)
    if spec in ("", "none"):
        return []
    names: list[str] = []
    for name in (part.strip() for part in spec.split(",")):
        if not name:
            continue
        if name.endswith((".pt", ".npy")):
            name = name.rsplit(".", 1)[0]
        if not is_voice_name(name):
            raise InvalidInputError(f"not a voice name: {name!r} (letters, digits, _ - . only)", param="voices")
        if name not in names:
            names.append(name)
    return names


def target_path(data_dir: DataDir, build: Build, file: HubFile) -> Path:
    folder = data_dir.voices_dir(build) if file.is_voice else data_dir.models_dir(build)
    return folder / file.name


def content_check(build: Build, file: HubFile):
    """What a file must be beyond its digest: a voice pack of this version's shape, a JSON config."""
    suffix = Path(file.name).suffix
    versions_by_rows = {b.voice_rows: b.version for b in BUILDS.values()}

    def rejected(why: str) -> DownloadError:
        return DownloadError(f"{file.path} {why}; it was discarded and nothing was installed")

    def check_voice(path: Path) -> None:
        try:
            array = read_pack_file(path, suffix=suffix)
        except FileProblemError as exc:
            raise rejected(f"is not a valid voice pack ({exc.__cause__ or exc.message})") from None
        try:
            validate_pack(array, rows=build.voice_rows, version=build.version, source=file.path,
                          versions_by_rows=versions_by_rows)
        except KokoroError as exc:
            raise rejected(f"is not a {build.version} voice pack ({exc.message})") from None

    def check_config(path: Path) -> None:
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise rejected(f"is not JSON ({exc})") from None
        if not isinstance(config, dict):
            raise rejected("is not a JSON object")

    if file.is_voice:
        return check_voice
    return check_config if suffix == ".json" else None


def run(request: DownloadRequest, data_dir: DataDir, client: HubClient, *, out=None) -> DownloadReport:
    """Fetch every planned file. No network stops at once; other failures are collected and the
    remaining files are still fetched. Raises :class:`DownloadError` when anything failed."""
    out = out if out is not None else sys.stdout
    build = get_build(request.version)
    files = plan(request, data_dir)
    print(f"fetching {len(files)} Kokoro-82M {build.version} files from {client.endpoint}", file=out)
    report = DownloadReport()
    for file in files:
        target = target_path(data_dir, build, file)
        try:
            result = client.fetch(file, target, check=content_check(build, file))
        except HubUnreachableError:
            raise
        except (DownloadError, FileProblemError) as exc:
            report.failed.append((file, exc.message))
            print(f"  FAILED   {file.path}: {exc.message}", file=out)
            continue
        except OSError as exc:
            raise FileProblemError(f"cannot write the download ({exc.strerror})", file=target,
                                   fix="set KOKORO_DATA_DIR (or --data-dir) to a writable folder") from exc
        report.fetched.append(result)
        if result.downloaded:
            resumed = f", resumed at {result.resumed_from} bytes" if result.resumed_from else ""
            print(f"  fetched  {_short(target, data_dir)} ({_size(target.stat().st_size)}{resumed})", file=out)
        else:
            print(f"  present  {_short(target, data_dir)} (verified, nothing transferred)", file=out)
    new = sum(1 for r in report.fetched if r.downloaded)
    print(f"{build.version}: {new} downloaded, {len(report.fetched) - new} already present, "
          f"{len(report.failed)} failed; {_size(report.transferred)} transferred into {data_dir.root}", file=out)
    if report.failed:
        names = ", ".join(f.path for f, _ in report.failed)
        raise DownloadError(f"{len(report.failed)} of {len(files)} files could not be downloaded ({names}); "
                            f"first problem: {report.failed[0][1]}")
    return report


def download(settings: Settings, request: DownloadRequest, *, hub_url: str | None = None,
             progress: bool = True) -> DownloadReport:
    """The ``download`` command: fetch into the data dir of ``settings`` from the hub or a mirror."""
    endpoint = hub_url or settings.hub_url
    data_dir = DataDir(settings.data_dir)
    with HubClient(endpoint, progress=progress) as client:
        return run(request, data_dir, client)


def _short(path: Path, data_dir: DataDir) -> str:
    try:
        return str(path.relative_to(data_dir.root))
    except ValueError:
        return str(path)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{count} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} bytes"
