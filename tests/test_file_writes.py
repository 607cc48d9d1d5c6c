"""Files the product writes: the mode a plain ``open()`` gives (umask) for new files, an existing
target's mode kept when replaced; the temp files a killed process leaves are swept at the next
start (by name, age and lock: never a live one), and kept downloads live under the data dir."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kokoro_server.datadir import DataDir
from kokoro_server.serving.download_links import DownloadStore
from kokoro_server.files import TempFile, sweep_temp_files, write_atomic
from kokoro_server.voices.install import add_voice
from tests.conftest import fill_data_dir
from tests.support.server import ServerThread

HOUR_AGO = time.time() - 3600


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def make_old(path: Path, content: bytes = b"left by a killed process") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    os.utime(path, (HOUR_AGO, HOUR_AGO))
    return path


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_files_get_the_umask_mode(tmp_path: Path, mask: int, expected: int) -> None:
    with umask(mask):
        write_atomic(tmp_path / "manifest.json", b"{}")
        (tmp_path / "plain").write_bytes(b"")  # what open() gives, for comparison
    assert mode(tmp_path / "manifest.json") == mode(tmp_path / "plain") == expected


def test_a_replaced_file_keeps_its_mode(tmp_path: Path, assets: Path) -> None:
    target = tmp_path / "manifest.json"
    target.write_bytes(b"old")
    target.chmod(0o640)
    with umask(0o002):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"new" and mode(target) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temp file left


def test_voices_saved_by_add_get_the_umask_mode_and_keep_a_replaced_ones(tmp_path: Path, assets: Path) -> None:
    data = DataDir(tmp_path / "data")
    with umask(0o002):
        added = add_voice(data, assets / "voices/v1_0/af_heart.pt", "af_mine")
    assert mode(added.path) == 0o664
    added.path.chmod(0o640)
    with umask(0o022):
        again = add_voice(data, assets / "voices/v1_0/af_sky.pt", "af_mine", force=True)
    assert again.replaced == added.path and mode(again.path) == 0o640


def test_migrated_files_get_the_umask_mode(tmp_path: Path, assets: Path) -> None:
    from kokoro_server.cli import main

    old = tmp_path / "old"
    (old / "voices").mkdir(parents=True)
    shutil.copy(assets / "voices/v0_19/af.pt", old / "voices")
    shutil.copy(assets / "voices/v0_19/af_bella.pt", old / "voices")
    (old / "voices" / "af.pt").chmod(0o600)  # the source's mode is not what decides
    replaced = tmp_path / "data" / "voices" / "v0_19" / "af_bella.pt"
    replaced.parent.mkdir(parents=True)
    shutil.copy(assets / "voices/v0_19/af.pt", replaced)  # different content: replaced with --force
    replaced.chmod(0o640)
    with umask(0o002):
        assert main(["migrate", "--from", str(old), "--to", str(tmp_path / "data"), "--force"]) == 0
    assert mode(tmp_path / "data/voices/v0_19/af.pt") == 0o664
    assert mode(replaced) == 0o640


def test_sweep_takes_stale_temp_files_only(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "v1_0"
    stale = [make_old(folder / ".kokoro-v1_0-int8.onnx.k3j_x9q2.part"), make_old(folder / ".x.onnx.0123abcd.tmp")]
    recent = folder / ".x.onnx.fresh123.tmp"
    recent.write_bytes(b"being written")
    kept = [recent, make_old(folder / "kokoro-v1_0.onnx.part"),  # a download to resume
            make_old(folder / ".af.migrate-backup"), make_old(folder / ".af.migrate-abcdefgh.part.pt"),
            make_old(folder / "notes.tmp")]
    with TempFile(folder / "graph.onnx") as live:  # held (locked) by this process
        os.utime(live.path, (HOUR_AGO, HOUR_AGO))
        assert sorted(sweep_temp_files([folder])) == sorted(stale)
        assert live.path.exists() and all(p.exists() for p in kept) and not any(p.exists() for p in stale)
        live.file.write(b"still mine")
        live.commit()
    assert (folder / "graph.onnx").read_bytes() == b"still mine"


def test_say_on_a_fresh_data_dir(assets: Path, tmp_path: Path) -> None:
    """The first `say`: stale temp files of a killed run are swept (live and young ones stay), the
    assembled model gets the umask's mode, nothing is derived (a one-shot command), the replaced output
    keeps its mode, and stderr has no onnxruntime lines; then `models --derive` writes the derived
    files with the umask's mode too. (A Spanish voice: espeak's front end starts in a fraction of the
    time of the English one.)"""
    data = fill_data_dir(tmp_path / "data", assets, versions=("v1_0",))
    models = data / "models" / "v1_0"
    stale = [make_old(models / ".kokoro-v1_0-int8.onnx.a1b2c3d4.part"),
             make_old(models / ".derived" / ".kokoro-v1_0-int8.onnx.0123456789ab.onnx.a1b2c3d4.tmp")]
    young = models / ".kokoro-v1_0-int8.onnx.e5f6a7b8.part"
    young.write_bytes(b"another process started writing this a moment ago")
    out = tmp_path / "hello.wav"
    out.write_bytes(b"an older file")
    out.chmod(0o640)
    env = {**os.environ, "KOKORO_DATA_DIR": str(data), "KOKORO_THREADS": "2"}
    with TempFile(models / ".derived" / "kokoro-v1_0-int8.onnx") as live:
        os.utime(live.path, (HOUR_AGO, HOUR_AGO))
        result = subprocess.run([sys.executable, "-m", "kokoro_server.cli", "say", "Hola.", "-v", "ef_dora",
                                 "-o", str(out)], env=env, capture_output=True, text=True, timeout=300,
                                preexec_fn=lambda: os.umask(0o002))
        assert result.returncode == 0, result.stderr
        assert live.path.exists()
    assert not any(p.exists() for p in stale) and young.exists()
    assert "onnxruntime" not in result.stderr.lower() and "[W:" not in result.stderr, result.stderr
    assert "wrote" in result.stderr and mode(out) == 0o640 and out.stat().st_size > 10_000
    assert mode(models / "kokoro-v1_0-int8.onnx") == 0o664
    assert not [p for p in (models / ".derived").iterdir() if not p.name.startswith(".")]  # say derives nothing
    derive = subprocess.run([sys.executable, "-m", "kokoro_server.cli", "models", "--derive"], env=env,
                            capture_output=True, text=True, timeout=600, preexec_fn=lambda: os.umask(0o002))
    assert derive.returncode == 0, derive.stderr
    assert "v1_0: derived in" in derive.stdout and "[W:" not in derive.stderr, (derive.stdout, derive.stderr)
    # every file the derivation wrote (the derived model and its manifest)
    saved = [p for p in models.rglob("*") if p.is_file() and p.suffix in (".onnx", ".json")
             and not p.name.startswith(".") and p != models / "kokoro-v1_0-int8.onnx"]
    assert any(".derived" in p.parts and p.suffix == ".onnx" for p in saved), saved
    assert {mode(p) for p in saved} == {0o664}, {str(p): oct(mode(p)) for p in saved}


def test_server_start_sweeps_what_killed_servers_left(data_dir: Path, tmp_path: Path) -> None:
    from kokoro_server.settings import Settings

    root = fill_data_dir(tmp_path / "data", data_dir, versions=("v0_19",))
    (root / "models").symlink_to(data_dir / "models", target_is_directory=True)
    (root / "voices" / "v1_0").mkdir()
    shutil.copy(data_dir / "voices" / "v1_0" / "af_heart.pt", root / "voices" / "v1_0")
    stale_voice = make_old(root / "voices" / "v1_0" / ".af_mix.pt.q1w2e3r4.tmp")
    downloads = root / "downloads"
    dead = downloads / "server-4242-deadbeef"
    make_old(dead / ".lock", b"")
    make_old(dead / "kept-by-a-dead-server.mp3")
    staging = downloads / ".new-abc123"
    make_old(staging / ".lock", b"")
    os.utime(staging, (HOUR_AGO, HOUR_AGO))
    other = DownloadStore.under([downloads], ttl_s=60, max_bytes=1000)  # another live server's
    try:
        server = ServerThread(Settings(data_dir=root, threads=1, concurrency=1)).start()
        try:
            own = server.serving.downloads.folder
            assert own.parent == downloads and own.is_dir() and mode(own) == 0o700
            assert not dead.exists() and not staging.exists() and not stale_voice.exists()
            assert other.folder.is_dir()
        finally:
            server.stop()
        assert not own.exists() and other.folder.is_dir()
    finally:
        other.close()
