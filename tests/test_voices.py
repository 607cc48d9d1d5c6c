"""Voice packs: reading .pt without torch, formats, shape validation per version, mixes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from kokoro_server.builds import get_build
from kokoro_server.datadir import DataDir
from kokoro_server.errors import FileProblemError, InvalidVoiceSpecError, VoiceNotFoundError, VoiceVersionMismatchError
from kokoro_server.voices.library import VoiceLibrary
from kokoro_server.voices.mix import parse_mix
from kokoro_server.voices.torch_pickle import UnsafePickleError, load_tensor_file
from tests.support.ci import require_module

V1 = get_build("v1_0")
V019 = get_build("v0_19")


def test_pt_reader_matches_torch_load(assets: Path) -> None:
    torch = require_module("torch", "pip install torch==2.13.0 (the torch extra)")
    for path in [assets / "voices/v1_0/af_heart.pt", assets / "voices/v0_19/af.pt"]:
        ours = load_tensor_file(path)
        theirs = torch.load(path, map_location="cpu", weights_only=True).numpy()
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)


def test_pt_reader_refuses_arbitrary_pickles(tmp_path: Path) -> None:
    import pickle
    import zipfile

    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps(print))  # any global but tensor rebuilds
    with pytest.raises(UnsafePickleError):
        load_tensor_file(evil)


@pytest.mark.parametrize("spec, expected", [
    ("af_heart", (("af_heart", 1.0),)),
    ("af_bella+af_sky", (("af_bella", 0.5), ("af_sky", 0.5))),
    ("af_bella(2)+af_sky(1)", (("af_bella", 2 / 3), ("af_sky", 1 / 3))),
    (" af_bella (3) + am_adam (1) ", (("af_bella", 0.75), ("am_adam", 0.25))),
    ("af_bella(1)+af_bella(1)", (("af_bella", 1.0),)),
])
def test_parse_mix(spec: str, expected: tuple) -> None:
    parts = parse_mix(spec).parts
    assert [n for n, _ in parts] == [n for n, _ in expected]
    assert [w for _, w in parts] == pytest.approx([w for _, w in expected])


@pytest.mark.parametrize("spec", ["", "+", "af_bella+", "af_bella(x)", "af_bella(-1)", "af_bella(0)",
                                  "(2)", "af bella", "af_bella(2", "a;rm -rf", "af_bella(nan)",
                                  "+".join(["af_bella"] * 17).replace("af_bella", "v", 1)])
def test_malformed_mix_is_refused(spec: str) -> None:
    with pytest.raises(InvalidVoiceSpecError):
        parse_mix(spec)


@pytest.fixture()
def library_dir(tmp_path: Path, assets: Path) -> Path:
    for version in ("v1_0", "v0_19"):
        (tmp_path / "voices" / version).mkdir(parents=True)
    for name in ("af_heart", "af_bella", "af_sky"):
        shutil.copy(assets / f"voices/v1_0/{name}.pt", tmp_path / f"voices/v1_0/{name}.pt")
    return tmp_path


def test_mix_is_the_weighted_mean(library_dir: Path) -> None:
    library = VoiceLibrary(DataDir(library_dir))
    bella, sky = library.load(V1, "af_bella"), library.load(V1, "af_sky")
    mixed = library.resolve(V1, "af_bella(3)+af_sky(1)")
    np.testing.assert_allclose(mixed, 0.75 * bella + 0.25 * sky, rtol=1e-6, atol=1e-6)
    assert library.resolve(V1, "af_bella(3)+af_sky(1)") is mixed  # cached


def test_npy_and_bundle_formats(library_dir: Path, assets: Path) -> None:
    folder = library_dir / "voices/v1_0"
    heart = load_tensor_file(assets / "voices/v1_0/af_heart.pt")
    np.save(folder / "my_voice.npy", heart[:, 0, :])  # [510, 256] is accepted too
    np.savez(folder / "bundle.npz", bf_one=heart * 0.5, bm_two=heart * 0.25)
    with open(folder / "other.bin", "wb") as handle:
        np.savez(handle, am_three=heart)
    library = VoiceLibrary(DataDir(library_dir))
    names = {v.name for v in library.list(V1)}
    assert {"my_voice", "bf_one", "bm_two", "am_three", "af_heart"} <= names
    np.testing.assert_array_equal(library.load(V1, "my_voice"), heart)
    np.testing.assert_allclose(library.load(V1, "bm_two"), heart * 0.25)
    info = {v.name: v for v in library.list(V1)}
    assert info["bm_two"].gender == "male" and info["bm_two"].language_name == "English (UK)"


def test_new_voice_file_is_seen_without_restart(library_dir: Path, assets: Path) -> None:
    library = VoiceLibrary(DataDir(library_dir))
    assert not library.has(V1, "am_michael")
    shutil.copy(assets / "voices/v1_0/am_michael.pt", library_dir / "voices/v1_0/am_michael.pt")
    assert library.has(V1, "am_michael")


def test_unknown_voice_names_the_folder(library_dir: Path) -> None:
    library = VoiceLibrary(DataDir(library_dir))
    with pytest.raises(VoiceNotFoundError, match="af_nobody.*v1_0.*installed: af_bella"):
        library.resolve(V1, "af_nobody")
    with pytest.raises(VoiceNotFoundError, match="af_nobody"):
        library.resolve(V1, "af_heart+af_nobody")


def test_wrong_shape_voice_is_refused(library_dir: Path) -> None:
    np.save(library_dir / "voices/v1_0/bad.npy", np.zeros((100, 1, 256), np.float32))
    np.save(library_dir / "voices/v1_0/flat.npy", np.zeros(256, np.float32))
    library = VoiceLibrary(DataDir(library_dir))
    with pytest.raises(FileProblemError, match=r"\[100, 1, 256\], expected \[510, 1, 256\] for v1_0: .*bad\.npy"):
        library.load(V1, "bad")
    with pytest.raises(FileProblemError, match="flat.npy"):
        library.load(V1, "flat")


def test_voice_of_the_other_version_says_which_version(library_dir: Path, assets: Path) -> None:
    shutil.copy(assets / "voices/v0_19/af.pt", library_dir / "voices/v1_0/af_old.pt")
    library = VoiceLibrary(DataDir(library_dir))
    with pytest.raises(VoiceVersionMismatchError, match="belongs to model version v0_19"):
        library.load(V1, "af_old")


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04garbage"])
def test_corrupt_voice_file_names_the_file(library_dir: Path, content: bytes) -> None:
    (library_dir / "voices/v1_0/broken.pt").write_bytes(content)
    library = VoiceLibrary(DataDir(library_dir))
    with pytest.raises(FileProblemError, match=r"broken\.pt"):
        library.load(V1, "broken")


def test_nan_voice_is_refused(library_dir: Path) -> None:
    pack = np.zeros((510, 1, 256), np.float32)
    pack[3, 0, 7] = np.nan
    np.save(library_dir / "voices/v1_0/nan_voice.npy", pack)
    with pytest.raises(FileProblemError, match="NaN"):
        VoiceLibrary(DataDir(library_dir)).load(V1, "nan_voice")


def test_real_voice_sets_list_per_version(data_dir: Path) -> None:
    library = VoiceLibrary(DataDir(data_dir))
    v1 = {v.name for v in library.list(V1)}
    v019 = {v.name for v in library.list(V019)}
    assert len(v1) == 68 and len(v019) == 13
    assert "af_heart" in v1 and "af_heart" not in v019 and "af_irulan" in v019
    assert library.load(V019, "af").shape == (511, 1, 256)
