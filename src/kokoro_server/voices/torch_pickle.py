"""Read tensors from PyTorch ``.pt`` files without torch, and without running arbitrary pickles.

A ``torch.save`` file is a zip archive: ``<name>/data.pkl`` (a pickle that rebuilds tensors from
storages) and ``<name>/data/<key>`` (raw storage bytes, little-endian unless ``<name>/byteorder``
says otherwise). The unpickler below allows only the handful of globals that tensor pickles use;
anything else is refused, as ``torch.load(weights_only=True)`` would. Storages saved on a CUDA
device read the same way.

Nothing in the file is trusted: every tensor's size, stride and storage offset is checked against
its storage before a view is made (non-negative integers, the last element inside the storage),
sizes are bounded (:data:`MAX_BYTES`), and any malformed content raises :class:`TensorFileError`.
"""

from __future__ import annotations

import io
import math
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

MAX_BYTES = 256 * 1024 * 1024  # storages read plus tensors made, per file
MAX_PICKLE_BYTES = 16 * 1024 * 1024
MAX_DIMS = 32

_STORAGE_DTYPES: dict[str, str] = {
    "FloatStorage": "f4", "HalfStorage": "f2", "DoubleStorage": "f8", "LongStorage": "i8",
    "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}


class TensorFileError(ValueError):
    """The file is not a well-formed tensor archive (any reason: zip, pickle, storage, bounds)."""


class UnsafePickleError(TensorFileError):
    """The pickle asks for something a tensor file never needs (a global, a persistent id)."""


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name = name


class _Storage:
    """One storage's elements, as read from ``data/<key>``; only the unpickler makes these."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


def _index(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TensorFileError(f"tensor {what} must be a non-negative integer, got {value!r}"[:200])
    return value


class _TensorUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str, byteorder: str) -> None:
        super().__init__(file)
        self._archive = archive
        self._prefix = prefix
        self._byteorder = byteorder
        self._storages: dict[str, _Storage] = {}
        self._spent = 0  # bytes read or made so far, bounded by MAX_BYTES

    def _spend(self, size: int, what: str) -> None:
        self._spent += size
        if self._spent > MAX_BYTES:
            raise TensorFileError(f"{what} takes the file's tensors beyond {MAX_BYTES} bytes")

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return self._rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        raise UnsafePickleError(f"refusing to load {module}.{name} from a tensor file")

    def _rebuild_tensor_v2(self, storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                           backward_hooks: Any = None, metadata: Any = None) -> np.ndarray:
        """A tensor's elements as a new contiguous array, after checking that the view stays inside its storage."""
        if not isinstance(storage, _Storage):
            raise TensorFileError(f"tensor storage is not a storage of the file ({type(storage).__name__})")
        if not isinstance(size, tuple) or not isinstance(stride, tuple) or len(size) != len(stride) \
                or len(size) > MAX_DIMS:
            raise TensorFileError(f"tensor size {size!r} and stride {stride!r} do not match"[:200])
        offset = _index(offset, "storage offset")
        shape = tuple(_index(n, "size") for n in size)
        steps = tuple(_index(s, "stride") for s in stride)
        array = storage.array
        numel = math.prod(shape)
        self._spend(numel * array.dtype.itemsize, f"tensor of size {list(shape)}")
        if numel:  # an empty tensor reads nothing
            last = offset + sum((n - 1) * s for n, s in zip(shape, steps))
            if last >= array.size:
                raise TensorFileError(f"tensor of size {list(shape)}, stride {list(steps)} at offset {offset} "
                                      f"reaches element {last} of a storage of {array.size} elements")
        else:
            return np.zeros(shape, dtype=array.dtype)
        view = np.lib.stride_tricks.as_strided(array[offset:], shape=shape,
                                               strides=tuple(s * array.dtype.itemsize for s in steps), writeable=False)
        return np.array(view, order="C")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafePickleError(f"unexpected persistent id {pid!r}"[:200])
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise UnsafePickleError("unknown storage type")
        if not isinstance(key, str):
            raise TensorFileError(f"storage key {key!r} is not a name"[:200])
        numel = _index(numel, "storage size")
        if key in self._storages:
            return self._storages[key]
        dtype = np.dtype(self._byteorder + _STORAGE_DTYPES[storage_type.name])
        name = f"{self._prefix}data/{key}"
        try:
            info = self._archive.getinfo(name)
        except KeyError:
            raise TensorFileError(f"the archive has no entry {name}"[:200]) from None
        self._spend(info.file_size, f"storage {key}")
        raw = self._archive.read(info)
        if len(raw) < numel * dtype.itemsize:
            raise TensorFileError(f"storage {key} is truncated ({len(raw)} bytes for {numel} elements)")
        array = np.frombuffer(raw, dtype=dtype, count=numel).astype(dtype.newbyteorder("="), copy=False)
        self._storages[key] = _Storage(array)
        return self._storages[key]


def load_tensor_file(path: Path) -> Any:
    """Load a ``torch.save`` file holding tensors (or dicts/lists of them) as numpy arrays.

    Raises :class:`TensorFileError` for any malformed content, ``OSError`` if the file cannot be read.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("data.pkl")]
            if len(pickles) != 1:
                raise TensorFileError("not a torch tensor archive (no single data.pkl)")
            prefix = pickles[0][: -len("data.pkl")]
            order = archive.read(prefix + "byteorder") if prefix + "byteorder" in archive.namelist() else b"little"
            if order not in (b"little", b"big"):
                raise TensorFileError(f"unknown byte order {order[:20]!r}")
            info = archive.getinfo(pickles[0])
            if info.file_size > MAX_PICKLE_BYTES:
                raise TensorFileError(f"{info.filename} is larger than {MAX_PICKLE_BYTES} bytes")
            data = archive.read(info)
            return _TensorUnpickler(io.BytesIO(data), archive, prefix, "<" if order == b"little" else ">").load()
    except (TensorFileError, OSError):
        raise
    except Exception as exc:  # zipfile, pickle and numpy raise many types on malformed bytes
        raise TensorFileError(f"{type(exc).__name__}: {exc}"[:300]) from exc
