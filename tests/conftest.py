"""Shared fixtures: a data dir filled from ../shared/assets (real voices, real model), a service."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kokoro_server.settings import Settings

REPO = Path(__file__).resolve().parent.parent
# The derived model file (engine/derived/) is bit-identical to the model it is derived from and is
# covered by tests/test_fast_variant.py, test_graph_cache.py, test_durations_model.py and
# test_first_run.py; deriving it in each fresh data dir would add seconds to every test that loads
# the model, so the other tests (and the servers they start) run without it.
os.environ.setdefault("KOKORO_FAST_MODEL", "false")
os.environ.setdefault("KOKORO_DERIVE", "off")
ASSETS = Path(os.environ.get("KOKORO_TEST_ASSETS", REPO.parent / "shared" / "assets"))


def _require_assets() -> Path:
    if not (ASSETS / "voices" / "v1_0" / "af_heart.pt").is_file():
        pytest.fail(f"test assets not found at {ASSETS} (set KOKORO_TEST_ASSETS)")
    return ASSETS


@pytest.fixture(scope="session")
def assets() -> Path:
    return _require_assets()


def fill_data_dir(root: Path, assets: Path, *, versions: tuple[str, ...] = ("v1_0", "v0_19")) -> Path:
    """A data dir whose voices/<version> link to the shared real voice packs (read-only)."""
    for version in versions:
        (root / "voices").mkdir(parents=True, exist_ok=True)
        link = root / "voices" / version
        if not link.exists():
            link.symlink_to(assets / "voices" / version, target_is_directory=True)
    return root


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory, assets: Path) -> Path:
    return fill_data_dir(tmp_path_factory.mktemp("kokoro-data"), assets)


@pytest.fixture(scope="session")
def model_file(data_dir: Path) -> Path:
    """The embedded int8 v1.0 ONNX model, assembled into the session's data dir."""
    from kokoro_server.builds import get_build
    from kokoro_server.datadir import DataDir

    return DataDir(data_dir).assemble_embedded(get_build("v1_0"))


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, threads=2)


@pytest.fixture(scope="session")
def service(settings: Settings):
    from kokoro_server.service import SpeechService

    svc = SpeechService(settings)
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def transcriber(tmp_path_factory: pytest.TempPathFactory):
    from tests.support.whisper import Transcriber, whisper_model_dir

    return Transcriber(whisper_model_dir(tmp_path_factory.mktemp("whisper")))


@pytest.fixture(scope="session")
def v019_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded random-weight v0.19 checkpoint in v0.19's format (no real v0.19 weights exist here)."""
    from tests.support.checkpoints import write_v019_checkpoint

    return write_v019_checkpoint(tmp_path_factory.mktemp("v019") / "kokoro-v0_19.pth")


@pytest.fixture(scope="session")
def torch_data_dir(tmp_path_factory: pytest.TempPathFactory, assets: Path, v019_checkpoint: Path) -> Path:
    """Both versions runnable on the torch backend: the generated v0.19 checkpoint and the real
    (approximate, fp16) v1.0 weights from the assets, linked under the names users give them."""
    root = fill_data_dir(tmp_path_factory.mktemp("kokoro-torch-data"), assets)
    for version, source, name in (("v0_19", v019_checkpoint, "kokoro-v0_19.pth"),
                                  ("v1_0", assets / "models" / "v1_0" / "kokoro-v1_0-dequant-fp16.pth",
                                   "kokoro-v1_0.pth")):
        (root / "models" / version).mkdir(parents=True, exist_ok=True)
        (root / "models" / version / name).symlink_to(source)
    return root


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory, assets: Path) -> Path:
    """A data dir whose v1.0 model is a user's ONNX file without durations (tests/support/tiny_model.py)."""
    from tests.support.tiny_model import tiny_model

    root = fill_data_dir(tmp_path_factory.mktemp("tiny"), assets, versions=("v1_0",))
    tiny_model(root / "models" / "v1_0" / "kokoro-v1_0.onnx")
    return root
