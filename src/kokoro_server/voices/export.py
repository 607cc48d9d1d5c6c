"""Write voice packs as ``.pt`` files that ``torch.load(..., weights_only=True)`` reads, without torch.

The writer mirrors :mod:`kokoro_server.voices.torch_pickle`: a zip archive (entries stored, data
aligned to 64 bytes as torch does) holding ``data.pkl``, a protocol-2 pickle that rebuilds one
float32 tensor with ``torch._utils._rebuild_tensor_v2`` from the storage ``data/0``.
"""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np

ARCHIVE = "archive"
ALIGNMENT = 64
_PADDING_FIELD = 0x4B4B  # a private zip "extra" field id that only pads; readers skip it


def _text(value: str) -> bytes:
    raw = value.encode("utf-8")
    return b"X" + struct.pack("<I", len(raw)) + raw  # BINUNICODE


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)  # BININT


def _ints(values: tuple[int, ...]) -> bytes:
    return b"(" + b"".join(_int(v) for v in values) + b"t"  # MARK ... TUPLE


def tensor_pickle(shape: tuple[int, ...]) -> bytes:
    """The ``data.pkl`` of a contiguous float32 tensor of ``shape`` stored as storage ``0`` on the CPU."""
    strides = tuple(int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape)))
    numel = int(np.prod(shape, dtype=np.int64))
    storage_id = b"(" + _text("storage") + b"ctorch\nFloatStorage\n" + _text("0") + _text("cpu") + _int(numel) + b"t"
    return (b"\x80\x02"  # PROTO 2
            + b"ctorch._utils\n_rebuild_tensor_v2\n"  # GLOBAL
            + b"(" + storage_id + b"Q"  # MARK, persistent id tuple, BINPERSID
            + _int(0) + _ints(shape) + _ints(strides)
            + b"\x89"  # requires_grad = False
            + b"ccollections\nOrderedDict\n)R"  # backward hooks: OrderedDict()
            + b"tR.")  # TUPLE, REDUCE, STOP


def pack_to_pt(pack: np.ndarray) -> bytes:
    """A ``torch.save``-compatible file holding ``pack`` as a float32 tensor."""
    array = np.ascontiguousarray(pack, dtype="<f4")
    entries = [
        ("data.pkl", tensor_pickle(tuple(int(n) for n in array.shape))),
        ("byteorder", b"little"),
        ("data/0", array.tobytes()),
        ("version", b"3\n"),
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(f"{ARCHIVE}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            header_end = buffer.tell() + 30 + len(info.filename.encode()) + 4
            padding = -header_end % ALIGNMENT
            info.extra = struct.pack("<HH", _PADDING_FIELD, padding) + b"\0" * padding
            archive.writestr(info, data)
    return buffer.getvalue()
