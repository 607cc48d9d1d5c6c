"""Crafted ``.pt`` voice files: a real pack's archive with its ``data.pkl`` rewritten, to check that
the torch-free reader refuses what a malicious or corrupt file may hold."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

HEART_SIZE = (510, 1, 256)
HEART_STRIDE = (256, 256, 1)
HEART_NUMEL = 510 * 256


def _text(value: str) -> bytes:
    raw = value.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw  # BINUNICODE


def _int(value: int) -> bytes:
    if -2**31 <= value < 2**31:
        return b"J" + struct.pack("<i", value)  # BININT
    raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw  # LONG1


def _ints(values: tuple[int, ...]) -> bytes:
    return b"(" + b"".join(_int(v) for v in values) + b"t"


def tensor_pickle(*, offset: int = 0, size: tuple[int, ...] = HEART_SIZE, stride: tuple[int, ...] = HEART_STRIDE,
                  storage_type: str = "FloatStorage", numel: int = HEART_NUMEL, storage: bytes | None = None) -> bytes:
    """``data.pkl`` rebuilding one tensor from storage ``0``; ``storage`` replaces the persistent storage."""
    if storage is None:
        storage = (b"(" + _text("storage") + f"ctorch\n{storage_type}\n".encode() + _text("0") + _text("cpu")
                   + _int(numel) + b"tQ")  # MARK ... TUPLE, BINPERSID
    return (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(" + storage + _int(offset) + _ints(size)
            + _ints(stride) + b"\x89ccollections\nOrderedDict\n)RtR.")


def rewrite(source: Path, target: Path, data_pkl: bytes) -> Path:
    """``source``'s archive with ``data.pkl`` replaced."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as new:
        for info in old.infolist():
            new.writestr(info.filename, data_pkl if info.filename.endswith("data.pkl") else old.read(info))
    target.write_bytes(buffer.getvalue())
    return target


def crafted_files(heart: Path, folder: Path) -> dict[str, Path]:
    """Each kind of bad file, by voice name (``af_<kind>``), made from the real pack ``heart``."""
    folder.mkdir(parents=True, exist_ok=True)
    pickles = {
        "huge_stride": tensor_pickle(stride=(2**40, 256, 1)),
        "offset_past_end": tensor_pickle(offset=HEART_NUMEL - 10),
        "far_offset": tensor_pickle(offset=2**62),
        "negative_size": tensor_pickle(size=(-510, 1, 256)),
        "negative_stride": tensor_pickle(stride=(-256, 256, 1)),
        "wrong_dtype": tensor_pickle(storage_type="QInt8Storage"),
        "int_dtype": tensor_pickle(storage_type="IntStorage"),
        "short_storage": tensor_pickle(numel=HEART_NUMEL * 4),
        "not_a_storage": tensor_pickle(storage=_text("storage")),
        "zero_stride_huge": tensor_pickle(size=(2**20, 2**20, 256), stride=(0, 0, 1)),
        "mismatched_dims": tensor_pickle(stride=(256, 1)),
        "garbage_pickle": b"\x80\x02" + bytes(range(256)) * 4,
    }
    files = {f"af_{kind}": rewrite(heart, folder / f"af_{kind}.pt", pkl) for kind, pkl in pickles.items()}
    whole = heart.read_bytes()
    (folder / "af_truncated.pt").write_bytes(whole[: len(whole) // 2])
    files["af_truncated"] = folder / "af_truncated.pt"
    return files
