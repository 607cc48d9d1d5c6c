"""The fast file of the int8 model (the lossless-int8-gemm recipe in the derived-model store):
bit-identical audio, derived once, derived again when stale or corrupt, the original whenever it
cannot be used; ``kokoro-server models`` says which file runs and why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.ci import require_module

onnx = require_module("onnx", "the fast file is derived with it: pip install -e .")

from kokoro_server.engine.derived.recipes.lossless_int8_gemm import RECIPE, rewrite  # noqa: E402
from kokoro_server.engine.derived.select import choose  # noqa: E402
from kokoro_server.engine.derived.store import DerivedStore, Entry  # noqa: E402
from kokoro_server.engine.onnx_runtime import OnnxBackend  # noqa: E402
from kokoro_server.engine.ort import import_onnxruntime  # noqa: E402
from kokoro_server.files import file_sha256  # noqa: E402
from kokoro_server.service import SpeechService  # noqa: E402
from kokoro_server.settings import Settings  # noqa: E402
from tests.support.derived import copy_store, derived, linked_model, wanted  # noqa: E402
from tests.support.engine import engine_inputs  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def lossless_alone():
    """The lossless recipe on its own, as on a CPU without the native kernels (where they run, the
    lossless graph is inside their file too: tests/test_quality_bar.py)."""
    from kokoro_server.engine.derived.recipes import RECIPES

    registered = dict(RECIPES)
    del RECIPES["native-generator"]
    try:
        yield
    finally:  # the registry as it was, in its order (the order recipes are applied in)
        RECIPES.clear()
        RECIPES.update(registered)


@pytest.fixture(scope="module")
def rewritten(model_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    rewritten = rewrite(onnx.load(str(model_file)))
    assert (rewritten.convs, rewritten.squares) == (87, 50)
    model = rewritten.model
    assert not [n for n in model.graph.node if n.op_type in ("ConvInteger", "Pow")]
    assert [o.name for o in model.graph.output] == [o.name for o in onnx.load(str(model_file), load_external_data=False).graph.output]
    path = tmp_path_factory.mktemp("lossless") / "lossless.onnx"
    onnx.save(model, str(path))
    return path


def test_lossless_rewrite_gives_bit_identical_audio(service: SpeechService, model_file: Path, rewritten: Path) -> None:
    original = OnnxBackend(model_file, threads=1)
    fast = OnnxBackend(rewritten, threads=1)
    texts = ["Hello there.", "The harbour town woke slowly on the first morning of spring.",
             "Is it twelve o'clock yet? No, it's a quarter past eleven!"]
    for voice in ("af_heart", "am_michael"):
        for tokens, style in engine_inputs(service, texts, voice):
            expected = original.synthesize(tokens, style, 1.0).audio
            got = fast.synthesize(tokens, style, 1.0).audio
            assert expected.size > 12_000
            np.testing.assert_array_equal(got, expected)
    original.close()
    fast.close()


@pytest.fixture(scope="module")
def derived_once(tmp_path_factory: pytest.TempPathFactory, model_file: Path, assets: Path) -> Path:
    """The fast file, derived once for the module (tests copy it into fresh folders)."""
    from tests.conftest import fill_data_dir

    root = fill_data_dir(tmp_path_factory.mktemp("fast") / "data", assets, versions=("v1_0",))
    model = linked_model(root / "models" / "v1_0", model_file)
    outcome = derived(model)
    assert outcome.made and outcome.path is not None
    return model


@pytest.fixture
def model(tmp_path: Path, model_file: Path, assets: Path) -> Path:
    """The real model linked into a fresh data dir (so it has no derived file yet)."""
    from tests.conftest import fill_data_dir

    return linked_model(fill_data_dir(tmp_path / "data", assets, versions=("v1_0",)) / "models" / "v1_0", model_file)


def models_command(model: Path, fast: bool) -> str:
    env = {**os.environ, "KOKORO_DATA_DIR": str(model.parents[2]), "KOKORO_FAST_MODEL": str(fast).lower(),
           "KOKORO_EXACT_MODEL": "true"}  # as lossless_alone: the exact recipes only
    return subprocess.run([sys.executable, "-m", "kokoro_server.cli", "models"], env=env, capture_output=True,
                          text=True, timeout=120, check=True).stdout


def manifest(model: Path, *, fast: bool = True) -> dict:
    return json.loads(DerivedStore(model.parent).manifest_path(wanted(model, fast=fast).key).read_text())


def test_fast_file_is_derived_once_verified_and_reused(derived_once: Path, model: Path) -> None:
    record = manifest(derived_once)
    assert RECIPE.id in record["applied"] and record["facts"]["max_abs_diff"] == 0.0
    assert record["facts"]["convs"] == 87 and record["facts"]["squares"] == 50
    assert record["facts"]["reference_seconds"] > 0 and record["facts"]["derived_seconds"] > 0
    copy_store(derived_once, model)
    path = DerivedStore(model.parent).manifest_path(wanted(model).key)
    stamp = path.stat().st_mtime_ns
    again = derived(model)
    assert not again.made and again.path is not None and again.path.parent == model.parent / ".derived"
    assert path.stat().st_mtime_ns == stamp  # read, not derived again
    settings = Settings(data_dir=model.parents[2], fast_model=True)
    chosen = choose(model, settings, "cpu", import_onnxruntime().__version__)
    assert chosen.path == again.path and chosen.complete and chosen.optimized
    off = choose(model, Settings(data_dir=model.parents[2], fast_model=False), "cpu", import_onnxruntime().__version__)
    assert off.path == model and RECIPE.id not in off.wanted.describe()  # KOKORO_FAST_MODEL=false: not wanted
    out = models_command(model, fast=True)  # what runs and why
    assert f"runs on: onnx ({again.path})" in out, out
    assert "why: durations output (/encoder/Cast_output_0); 87 convs on the u8 x s8 GEMM, 50 squares as products; " \
           "onnxruntime's optimized graph for this CPU; audio bit-identical to the model's on 5 check utterances, x" in out, out
    out = models_command(model, fast=False)
    assert f"runs on: onnx ({model})" in out and "lossless" not in out.split("why:")[1].splitlines()[0], out


def test_a_fast_file_that_is_not_faster_here_is_left_out(model: Path) -> None:
    slow = derived(model, max_ratio=0.0)  # no file can be that much faster: the recipe is dropped
    entry = Entry.from_json(DerivedStore(model.parent).manifest_path(wanted(model).key).read_text())
    assert RECIPE.id not in entry.applied and "not faster" in entry.dropped[RECIPE.id]
    assert entry.applied == ["durations-output/1"] and slow.path is not None  # the durations and graph still are
    assert "ConvInteger" in {n.op_type for n in onnx.load(str(slow.path)).graph.node}


def test_corrupt_or_stale_fast_file_is_derived_again(derived_once: Path, model: Path) -> None:
    copy_store(derived_once, model)
    ort_version = import_onnxruntime().__version__
    settings = Settings(data_dir=model.parents[2], fast_model=True)
    first = choose(model, settings, "cpu", ort_version).path
    with first.open("r+b") as handle:  # flip bytes in the middle of the derived file
        handle.seek(first.stat().st_size // 2)
        handle.write(b"\x00" * 64)
    fallback = choose(model, settings, "cpu", ort_version)
    assert fallback.path == model and not fallback.complete and not first.exists()  # never served; deleted
    second = derived(model)
    assert second.made and file_sha256(second.path) == manifest(model)["sha256"]

    store = DerivedStore(model.parent)  # made by another onnxruntime on this machine: retired when ours is made
    record = manifest(model)
    record["key"]["onnxruntime"] = "0.0.1"
    other = Entry.from_json(json.dumps(record))
    store.manifest_path(other.key).write_text(json.dumps(record))
    assert choose(model, settings, "cpu", ort_version).complete  # ours is unaffected
    assert store.retire(keep=wanted(model).key) == [store.manifest_path(other.key)]  # what commit() calls
    assert not store.manifest_path(other.key).exists() and store.manifest_path(wanted(model).key).exists()
    # unreadable: the model as installed runs (nothing is derived by choosing)
    store.manifest_path(wanted(model).key).write_text("{not json")
    assert choose(model, settings, "cpu", ort_version).path == model


def test_unwritable_store_runs_the_original(model: Path) -> None:
    (model.parent / ".derived").write_text("a file where the folder would go")
    with pytest.raises(OSError):
        derived(model)
    assert choose(model, Settings(data_dir=model.parents[2], fast_model=True), "cpu", import_onnxruntime().__version__).path == model
