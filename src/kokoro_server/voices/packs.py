"""Voice-pack files: ``.pt`` (torch tensor, read without torch), ``.npy``, and ``.npz``/``.bin`` bundles.

A pack is float32 ``[rows, 1, 256]``; ``rows`` tells the version (510 for v1.0, 511 for v0.19).
For an utterance of ``n`` tokens the style vector is row ``n - 1``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from kokoro_server.errors import FileProblemError, KokoroError, VoiceVersionMismatchError
from kokoro_server.voices.torch_pickle import load_tensor_file

PACK_SUFFIXES = (".pt", ".npy")
BUNDLE_SUFFIXES = (".npz", ".bin")
STYLE_WIDTH = 256


@contextmanager
def reading(path: Path, what: str = "voice file") -> Iterator[None]:
    """The one place where a failure to read a data file becomes the file error (HTTP 424) naming it:
    a file's bytes can make zipfile, pickle or numpy raise almost anything."""
    try:
        yield
    except KokoroError:
        raise
    except PermissionError as exc:
        raise FileProblemError(f"{what} is not readable (permission denied)", file=path,
                               fix=f"chmod a+r {path}") from exc
    except Exception as exc:
        raise FileProblemError(f"{what} is corrupt or not a tensor ({type(exc).__name__}: {exc})"[:400], file=path,
                               fix="replace it (kokoro-server download --voices NAME)") from exc


def read_pack_file(path: Path, *, suffix: str | None = None) -> np.ndarray:
    """Read one voice pack file as a float32 array (no shape check); ``suffix`` overrides the path's."""
    suffix = suffix or path.suffix
    if suffix not in PACK_SUFFIXES:
        raise FileProblemError("unsupported voice file type", file=path, fix="use .pt, .npy, .npz or .bin")
    with reading(path):
        array = load_tensor_file(path) if suffix == ".pt" else np.load(path, allow_pickle=False)
        return as_pack_array(array, path)


def read_bundle(path: Path) -> dict[str, np.ndarray]:
    """An ``.npz``/``.bin`` bundle: one array per voice, keyed by voice name."""
    with reading(path, "voice bundle"), np.load(path, allow_pickle=False) as bundle:
        return {name: as_pack_array(bundle[name], path) for name in bundle.files}


def as_pack_array(array: object, path: Path) -> np.ndarray:
    """A voice file's array as float32 (a pack holds floating-point values)."""
    if not isinstance(array, np.ndarray):
        raise FileProblemError("voice file does not hold a single tensor", file=path,
                               fix="save the pack as one float32 tensor [rows, 1, 256]")
    if array.dtype.kind != "f":
        raise FileProblemError(f"voice file holds {array.dtype} values, not floating point", file=path,
                               fix="save the pack as one float32 tensor [rows, 1, 256]")
    return array.astype(np.float32, copy=False)


def validate_pack(array: np.ndarray, *, rows: int, version: str, source: str,
                  versions_by_rows: dict[int, str] | None = None) -> np.ndarray:
    """Check a pack's shape for a build; ``[rows, 256]`` is accepted and given the middle axis."""
    if array.ndim == 2 and array.shape[1] == STYLE_WIDTH:
        array = array[:, None, :]
    if array.ndim == 3 and array.shape[1:] == (1, STYLE_WIDTH) and array.shape[0] == rows:
        if not np.isfinite(array).all():
            raise FileProblemError("voice pack holds NaN or infinite values", file=source,
                                   fix="replace the voice pack")
        return np.ascontiguousarray(array)
    other = (versions_by_rows or {}).get(array.shape[0]) if array.ndim == 3 else None
    if other is not None and other != version and array.shape[1:] == (1, STYLE_WIDTH):
        raise VoiceVersionMismatchError(
            f"voice pack {source} has {array.shape[0]} rows: it belongs to model version {other}, "
            f"not {version} (which needs [{rows}, 1, {STYLE_WIDTH}])", param="voice")
    raise FileProblemError(
        f"voice pack has shape {list(array.shape)}, expected [{rows}, 1, {STYLE_WIDTH}] for {version}",
        file=source, fix="use a voice pack made for this model version")
