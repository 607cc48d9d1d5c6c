"""``kokoro-server voices add``: real packs from ../shared/assets, checked and installed atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kokoro_server.builds import get_build
from kokoro_server.cli import main
from kokoro_server.datadir import DataDir
from kokoro_server.voices.library import VoiceLibrary
from kokoro_server.voices.packs import read_pack_file


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


def add(data: Path, *args: str) -> int:
    return main(["--data-dir", str(data), "voices", "add", *args])


def installed(data: Path, version: str, name: str) -> np.ndarray:
    return VoiceLibrary(DataDir(data)).load(get_build(version), name)


def test_a_pt_pack_is_installed_byte_for_byte_and_loads(data: Path, assets: Path, capsys) -> None:
    source = assets / "voices" / "v1_0" / "af_heart.pt"
    assert add(data, str(source), "--name", "my_heart") == 0
    target = data / "voices" / "v1_0" / "my_heart.pt"
    assert target.read_bytes() == source.read_bytes()
    assert "my_heart (v1_0): installed" in capsys.readouterr().out
    assert installed(data, "v1_0", "my_heart").shape == (510, 1, 256)
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temp file left


def test_the_version_follows_the_pack_and_npy_npz_are_accepted(data: Path, assets: Path, tmp_path: Path) -> None:
    pack = read_pack_file(assets / "voices" / "v0_19" / "af_sky.pt")
    np.save(tmp_path / "sky.npy", pack)
    np.savez(tmp_path / "sky2d.npz", style=pack[:, 0, :])  # [511, 256]: one array, no middle axis
    assert add(data, str(tmp_path / "sky.npy"), "--name", "sky") == 0
    assert add(data, str(tmp_path / "sky2d.npz"), "--name", "sky2d", "-m", "v0_19") == 0
    assert (data / "voices" / "v0_19" / "sky.npy").is_file()
    assert (data / "voices" / "v0_19" / "sky2d.npy").is_file()
    np.testing.assert_array_equal(installed(data, "v0_19", "sky2d"), pack)


def test_a_pack_of_the_other_version_is_refused_naming_its_version(data: Path, assets: Path, capsys) -> None:
    assert add(data, str(assets / "voices" / "v0_19" / "af_bella.pt"), "--name", "bella", "-m", "v1_0") == 2
    err = capsys.readouterr().err
    assert "belongs to model version v0_19, not v1_0" in err
    assert not (data / "voices" / "v1_0").exists() or not list((data / "voices" / "v1_0").iterdir())


def test_a_wrong_shape_or_a_bad_file_is_refused(data: Path, tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "small.npy", np.zeros((10, 256), np.float32))
    assert add(data, str(tmp_path / "small.npy"), "--name", "small") == 2
    assert "expected [510, 1, 256] for v1_0" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"not a tensor")
    assert add(data, str(tmp_path / "junk.pt"), "--name", "junk", "-m", "v1_0") == 2
    assert "corrupt or not a tensor" in capsys.readouterr().err
    np.savez(tmp_path / "two.npz", a=np.zeros((510, 256), np.float32), b=np.zeros((510, 256), np.float32))
    assert add(data, str(tmp_path / "two.npz"), "--name", "two") == 2
    assert "holds 2 arrays" in capsys.readouterr().err
    assert not (data / "voices").exists()


def test_a_bad_name_is_refused(data: Path, assets: Path, capsys) -> None:
    assert add(data, str(assets / "voices" / "v1_0" / "af_heart.pt"), "--name", "../escape") == 2
    assert "not a usable voice name" in capsys.readouterr().err
    assert not (data / "voices").exists()


def test_a_different_voice_of_the_same_name_needs_force(data: Path, assets: Path, capsys) -> None:
    heart, bella = assets / "voices" / "v1_0" / "af_heart.pt", assets / "voices" / "v1_0" / "af_bella.pt"
    assert add(data, str(heart), "--name", "mine") == 0
    assert add(data, str(heart), "--name", "mine") == 0  # the same pack again: nothing to do
    assert "already installed" in capsys.readouterr().out
    assert add(data, str(bella), "--name", "mine") == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err
    assert (data / "voices" / "v1_0" / "mine.pt").read_bytes() == heart.read_bytes()
    pack = read_pack_file(bella)
    np.save(data.parent / "bella.npy", pack)
    assert add(data, str(data.parent / "bella.npy"), "--name", "mine", "--force") == 0
    assert sorted(p.name for p in (data / "voices" / "v1_0").iterdir()) == ["mine.npy"]  # one file per name
    np.testing.assert_array_equal(installed(data, "v1_0", "mine"), pack)
