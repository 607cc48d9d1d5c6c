"""Both versions side by side: routing by voice, usability, backend choice, wrong-version packs."""

from __future__ import annotations

import dataclasses

from pathlib import Path

import numpy as np
import pytest

from kokoro_server.builds import get_build
from kokoro_server.builds.v0_19 import v1_voice_name
from kokoro_server.cli import main
from kokoro_server.errors import (BackendUnavailableError, FileProblemError, VoiceNotFoundError,
                                  VoiceVersionMismatchError)
from kokoro_server.service import SpeechRequest, SpeechService
from kokoro_server.settings import Settings
from kokoro_server.voices.torch_pickle import load_tensor_file
from tests.conftest import fill_data_dir

V019, V1 = get_build("v0_19"), get_build("v1_0")


def test_v1_0_ships_the_v0_19_voices_under_v0_names(assets: Path) -> None:
    """The rename rule is read off the real files: v1.0's ``af_v0irulan`` is v0.19's ``af_irulan``
    (its first 510 rows), and so on for every v0.19 voice."""
    for path in sorted((assets / "voices" / "v0_19").glob("*.pt")):
        renamed = assets / "voices" / "v1_0" / f"{v1_voice_name(path.stem)}.pt"
        assert renamed.is_file(), renamed
        old, new = load_tensor_file(path), load_tensor_file(renamed)
        assert old.shape == (511, 1, 256) and new.shape == (510, 1, 256)
        assert np.array_equal(new, old[:510]) or np.array_equal(new, old[1:]), path.stem


# -- v0.19 voices when v0.19 is not usable (the session data dir: v0.19 voices, no v0.19 weights) --
@pytest.mark.parametrize(("voice", "suggestion"), [
    ("af_irulan", "'af_v0irulan'"),
    ("af", "'af_v0'"),
    ("am_gurney", "'am_v0gurney'"),
    ("af_irulan+af_sky", "'af_v0irulan(0.5)+af_sky(0.5)'"),
])
def test_v0_19_voice_without_v0_19_weights_suggests_the_v1_0_equivalent(service: SpeechService, voice: str,
                                                                         suggestion: str) -> None:
    assert not service.models.usable(V019)
    with pytest.raises(VoiceNotFoundError) as caught:
        service.prepare(SpeechRequest(text="Hello.", voice=voice))
    message = caught.value.message
    assert "Kokoro-82M v0.19 voice" in message and "kokoro-v0_19.pth" in message
    assert f"use voice={suggestion} (model v1_0)" in message
    assert caught.value.status_code == 400 and caught.value.param == "voice"


def test_explicit_v1_0_with_a_v0_19_name_suggests_the_equivalent(service: SpeechService) -> None:
    with pytest.raises(VoiceNotFoundError, match="am_gurney -> am_v0gurney"):
        service.prepare(SpeechRequest(text="Hello.", voice="am_gurney", model="v1_0"))


def test_unknown_voice_gets_no_made_up_equivalent(service: SpeechService) -> None:
    with pytest.raises(VoiceNotFoundError) as caught:
        service.prepare(SpeechRequest(text="Hello.", voice="af_nobody"))
    assert "af_nobody" in caught.value.message and "use voice=" not in caught.value.message


def test_missing_version_is_a_clear_error_while_the_other_works(service: SpeechService) -> None:
    with pytest.raises(FileProblemError) as caught:
        service.prepare(SpeechRequest(text="Hello.", model="v0_19"))
    assert caught.value.status_code == 424
    assert "kokoro-v0_19.pth" in caught.value.message and str(service.data_dir.models_dir(V019)) in caught.value.message
    audio = service.synthesize(SpeechRequest(text="Hi.", voice="af_v0irulan"))
    assert audio.size > 0.3 * 24_000
    assert service.models.status(V1).loaded and not service.models.status(V019).loaded
    assert service.models.unload("v1_0") and not service.models.status(V1).loaded
    assert not service.models.unload("v1_0")


# -- wrong-version packs --------------------------------------------------------------------
def test_voice_pack_of_the_other_version_is_refused_naming_its_version(tmp_path: Path, assets: Path) -> None:
    root = fill_data_dir(tmp_path, assets, versions=())
    for version, source in (("v0_19", assets / "voices" / "v1_0" / "af_heart.pt"),
                            ("v1_0", assets / "voices" / "v0_19" / "af_irulan.pt")):
        (root / "voices" / version).mkdir(parents=True)
        (root / "voices" / version / source.name).symlink_to(source)
    service = SpeechService(Settings(data_dir=root))
    with pytest.raises(VoiceVersionMismatchError) as caught:
        service.prepare(SpeechRequest(text="Hello.", voice="af_heart", model="v0_19"))
    assert "belongs to model version v1_0" in caught.value.message and caught.value.status_code == 400
    with pytest.raises(VoiceVersionMismatchError, match="belongs to model version v0_19"):
        service.prepare(SpeechRequest(text="Hello.", voice="af_irulan", model="v1_0"))


# -- backend choice -------------------------------------------------------------------------
@pytest.fixture()
def both_pth(tmp_path: Path, assets: Path, v019_checkpoint: Path) -> Path:
    root = fill_data_dir(tmp_path, assets)
    (root / "models" / "v0_19").mkdir(parents=True)
    (root / "models" / "v0_19" / "kokoro-v0_19.pth").symlink_to(v019_checkpoint)
    return root


def test_auto_picks_per_version_and_says_why(both_pth: Path) -> None:
    service = SpeechService(Settings(data_dir=both_pth))
    v019, v1 = service.models.status(V019), service.models.status(V1)
    assert v019.ready and v019.backend == "torch" and v019.weights.endswith("kokoro-v0_19.pth")
    assert "KOKORO_BACKEND=auto" in v019.selection
    assert v1.ready and v1.backend == "onnx" and v1.embedded
    assert service.prepare(SpeechRequest(text="Hi.", voice="af_irulan")).build is V019


def test_onnx_only_refuses_a_pth_and_routes_nothing_to_it(both_pth: Path) -> None:
    service = SpeechService(Settings(data_dir=both_pth, backend="onnx"))
    status = service.models.status(V019)
    assert not status.ready and "KOKORO_BACKEND=onnx needs kokoro-v0_19.onnx" in status.problem
    assert "kokoro-v0_19.pth" in status.problem  # what was found
    with pytest.raises(VoiceNotFoundError, match="af_v0irulan"):
        service.prepare(SpeechRequest(text="Hi.", voice="af_irulan"))
    with pytest.raises(FileProblemError, match="KOKORO_BACKEND=onnx"):
        service.models.get("v0_19")


def test_torch_only_needs_a_pth(both_pth: Path) -> None:
    service = SpeechService(Settings(data_dir=both_pth, backend="torch"))
    assert service.models.status(V019).backend == "torch"
    status = service.models.status(V1)  # only the embedded ONNX model is available for v1.0
    assert not status.ready and "KOKORO_BACKEND=torch needs kokoro-v1_0.pth" in status.problem


def test_auto_without_torch_names_what_to_install(both_pth: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kokoro_server.engine.backends import BACKENDS

    monkeypatch.setitem(BACKENDS, "torch", dataclasses.replace(BACKENDS["torch"], available=lambda: False))
    service = SpeechService(Settings(data_dir=both_pth))
    status = service.models.status(V019)
    assert not status.ready and "needs the PyTorch backend" in status.problem
    assert "pip install 'kokoro-server[torch]'" in status.problem
    with pytest.raises(BackendUnavailableError):
        service.models.get("v0_19")
    assert service.models.status(V1).ready  # the embedded ONNX model needs no torch
    torch_only = SpeechService(Settings(data_dir=both_pth, backend="torch"))
    assert "torch and kokoro are not installed" in torch_only.models.status(V019).problem


def test_preload_loads_what_it_can(tmp_path: Path, assets: Path) -> None:
    root = fill_data_dir(tmp_path, assets)
    # the plain model: a fresh data dir, where deriving the fast variant would add a minute
    service = SpeechService(Settings(data_dir=root, preload=["v1_0", "v0_19"], threads=2, fast_model=False))
    try:
        problems = service.models.preload()
        assert set(problems) == {"v0_19"} and "kokoro-v0_19" in problems["v0_19"]
        assert service.models.status(V1).loaded
    finally:
        service.close()


# -- `kokoro-server models` -----------------------------------------------------------------
def test_models_command_shows_both_versions(both_pth: Path, data_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--data-dir", str(both_pth), "models"]) == 0
    out = capsys.readouterr().out
    assert "v0_19 (Kokoro-82M v0.19): ready" in out and "v1_0 (Kokoro-82M v1.0): ready" in out
    assert "runs on: torch" in out and "runs on: onnx" in out and "KOKORO_BACKEND=auto" in out
    assert main(["--data-dir", str(data_dir), "models"]) == 0
    out = capsys.readouterr().out
    assert "v0_19 (Kokoro-82M v0.19): NOT READY" in out and "kokoro-v0_19.pth" in out
    assert "`kokoro-server download -m v0_19` fetches the ONNX export" in out and "user-supplied" not in out
