"""Shared fixtures: a data dir filled from ../shared/assets (real voices, real model), a service.

The session runs the DEFAULT settings (what users run): the fast variant of the embedded int8
model with its durations output, derived once per session into the session data dir's models/
(``default_models``, tests/support/models.py) and reused by every server that links it. A test
that needs the plain model says so: ``Settings(..., fast_model=False)`` or the ``plain_settings``
fixture."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kokoro_server.settings import Settings
from tests.support.models import DefaultModels

REPO = Path(__file__).resolve().parent.parent
# Servers of the session run the default settings on the derived file made once by `default_models`;
# one started on a fresh data dir would otherwise derive it again in the background (about a minute of
# CPU each, beside the tests): derivation itself is covered by tests/test_first_run.py and
# test_fast_variant.py, which turn it on where they need it.
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
def default_models(tmp_path_factory: pytest.TempPathFactory, assets: Path) -> DefaultModels:
    """The session data dir's models/: the embedded model and what the default settings derive from
    it, derived once here (before any server of the session loads it; see tests/support/models.py)."""
    from tests.support.models import derive_default_models

    root = fill_data_dir(tmp_path_factory.mktemp("kokoro-data"), assets)
    kept = os.environ.get("KOKORO_TEST_MODELS_DIR")  # local runs: keep models/ between sessions
    if kept:
        Path(kept).mkdir(parents=True, exist_ok=True)
        (root / "models").symlink_to(Path(kept).resolve(), target_is_directory=True)
    return derive_default_models(root)


@pytest.fixture(scope="session")
def data_dir(default_models: DefaultModels) -> Path:
    """Real voices (read-only links) and models/ with the derived files of the default settings."""
    return default_models.data_dir


@pytest.fixture(scope="session")
def model_file(default_models: DefaultModels) -> Path:
    """The embedded int8 v1.0 ONNX model (the plain model), assembled into the session's data dir."""
    return default_models.source


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    """The defaults (fast variant on), two threads: the test machine's cores."""
    return Settings(data_dir=data_dir, threads=2)


@pytest.fixture(scope="session")
def plain_settings(data_dir: Path) -> Settings:
    """The plain model: the embedded int8 file as shipped (only its durations output added)."""
    return Settings(data_dir=data_dir, threads=2, fast_model=False)


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The container test runs last: in CI its image is built in the background meanwhile (.ci/run)."""
    items.sort(key=lambda item: item.get_closest_marker("container") is not None)
