"""``kokoro-server voices add``: check a voice pack file and install it into ``voices/<version>/``.

Accepted: ``.pt`` (a torch tensor), ``.npy``, or an ``.npz`` holding exactly one array. The pack
must have the shape of the target version (``[510, 1, 256]`` for v1.0, ``[511, 1, 256]`` for
v0.19; ``[rows, 256]`` is accepted too). ``.pt``/``.npy`` files are installed byte for byte; a
single-array ``.npz`` is installed as ``.npy``. The write is atomic (temp file, fsync, rename), and
an existing voice of that name with different content is only replaced with ``force``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kokoro_server.builds import BUILDS, DEFAULT_VERSION, Build, resolve_model_name
from kokoro_server.datadir import DataDir
from kokoro_server.errors import FileProblemError, InvalidInputError, VoiceVersionMismatchError, quote
from kokoro_server.files import write_atomic
from kokoro_server.voices.library import VoiceLibrary
from kokoro_server.voices.mix import NEW_NAME_MAX, is_new_voice_name
from kokoro_server.voices.packs import PACK_SUFFIXES, as_pack_array, read_pack_file, reading, validate_pack

ACCEPTED_SUFFIXES = (".pt", ".npy", ".npz")


@dataclass(frozen=True)
class InstalledVoice:
    name: str
    version: str
    path: Path
    replaced: Path | None  # the file of the same name that was replaced (with force)
    unchanged: bool  # the same pack was already installed under this name


def read_voice_file(source: Path) -> np.ndarray:
    """The pack a file holds (no shape check)."""
    if not source.is_file():
        raise FileProblemError("voice file not found", file=source, fix="give the path of a .pt, .npy or .npz file")
    suffix = source.suffix.lower()
    if suffix not in ACCEPTED_SUFFIXES:
        raise FileProblemError(f"unsupported voice file type {source.suffix or '(none)'}", file=source,
                               fix="use a .pt, .npy or single-array .npz file")
    if suffix != ".npz":
        return read_pack_file(source, suffix=suffix)
    with reading(source), np.load(source, allow_pickle=False) as bundle:
        if len(bundle.files) != 1:
            raise FileProblemError(f"the .npz holds {len(bundle.files)} arrays, expected exactly one",
                                   file=source, fix="save one voice pack per file")
        return as_pack_array(bundle[bundle.files[0]], source)


def check_pack(array: np.ndarray, source: Path, version: str | None,
               default_version: str = DEFAULT_VERSION) -> tuple[Build, np.ndarray]:
    """The build this pack is for (``version``: a version or model name; else guessed from its rows)
    and the checked pack."""
    by_rows = {b.voice_rows: b.version for b in BUILDS.values()}
    if version is None:
        rows = array.shape[0] if array.ndim in (2, 3) else None
        if rows not in by_rows:
            shapes = ", ".join(f"[{b.voice_rows}, 1, 256] for {b.version}" for b in BUILDS.values())
            raise FileProblemError(f"voice pack has shape {list(array.shape)}; expected {shapes}", file=source)
        version = by_rows[rows]
    build = resolve_model_name(version, default_version)
    pack = validate_pack(array, rows=build.voice_rows, version=build.version, source=str(source),
                         versions_by_rows=by_rows)
    return build, pack


def add_voice(data_dir: DataDir, source: Path, name: str, *, version: str | None = None,
              force: bool = False) -> InstalledVoice:
    if not is_new_voice_name(name):
        raise InvalidInputError(f"not a usable voice name: {quote(name)} (1 to {NEW_NAME_MAX} letters, digits, "
                                "_ and -, starting with a letter or digit)", param="name")
    array = read_voice_file(source)
    try:
        build, pack = check_pack(array, source, version)
    except VoiceVersionMismatchError as exc:
        raise VoiceVersionMismatchError(exc.message + " (leave out -m to install it for the version it "
                                        "belongs to)", param="model") from None
    suffix = source.suffix.lower()
    keep_bytes = suffix in PACK_SUFFIXES
    folder = data_dir.voices_dir(build)
    target = folder / f"{name}{suffix if keep_bytes else '.npy'}"

    library = VoiceLibrary(data_dir)
    existing = next((Path(v.file) for v in library.list(build) if v.name == name), None)
    if existing is not None:
        if _same_pack(library, build, name, pack):
            return InstalledVoice(name, build.version, existing, None, True)
        if not force:
            raise InvalidInputError(f"voice {name!r} already exists for {build.version} ({existing}) and "
                                    "differs from this pack; choose another --name or pass --force to "
                                    "replace it", param="name")

    data = source.read_bytes() if keep_bytes else _npy_bytes(pack)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
    except OSError as exc:
        raise FileProblemError(f"cannot write the voice ({exc.strerror})", file=target,
                               fix="set KOKORO_DATA_DIR (or --data-dir) to a writable folder") from exc
    replaced = None
    if existing is not None:
        replaced = existing
        if existing != target and existing.parent == folder and existing.suffix in PACK_SUFFIXES:
            existing.unlink(missing_ok=True)  # one file per voice name: the new one
    return InstalledVoice(name, build.version, target, replaced, False)


def _same_pack(library: VoiceLibrary, build: Build, name: str, pack: np.ndarray) -> bool:
    try:
        return bool(np.array_equal(library.load(build, name), pack))
    except (FileProblemError, VoiceVersionMismatchError):
        return False  # the installed file is broken: a different voice


def _npy_bytes(pack: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(pack, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()
