"""The fast variant of the int8 model: bit-identical audio, derived once, re-derived when stale or
corrupt, the original whenever it cannot be used; ``kokoro-server models`` says which runs and why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.ci import require_module

onnx = require_module("onnx", "the fast variant is derived with it: pip install -e .")

from kokoro_server.engine import fast_variant  # noqa: E402
from kokoro_server.engine.onnx_runtime import OnnxBackend, import_onnxruntime  # noqa: E402
from kokoro_server.optimize.lossless import rewrite  # noqa: E402
from kokoro_server.service import SpeechService  # noqa: E402
from tests.support.engine import engine_inputs  # noqa: E402

KEEP = float("inf")  # keep the verified variant whatever the timing said (the machine is shared)


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
    original = OnnxBackend(model_file, threads=1, save_graph=False)
    fast = OnnxBackend(rewritten, threads=1, save_graph=False)
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


@pytest.fixture
def model(tmp_path: Path, model_file: Path, assets: Path) -> Path:
    """The real model linked into a fresh data dir (so it has no variant yet)."""
    from tests.conftest import fill_data_dir

    folder = fill_data_dir(tmp_path / "data", assets, versions=("v1_0",)) / "models" / "v1_0"
    folder.mkdir(parents=True)
    link = folder / model_file.name
    link.symlink_to(model_file)
    return link


def models_command(model: Path, fast: bool) -> str:
    env = {**os.environ, "KOKORO_DATA_DIR": str(model.parents[2]), "KOKORO_FAST_MODEL": str(fast).lower()}
    return subprocess.run([sys.executable, "-m", "kokoro_server.cli", "models"], env=env, capture_output=True,
                          text=True, timeout=120, check=True).stdout


def choose(model: Path, **options) -> fast_variant.Choice:
    return fast_variant.choose(model, import_onnxruntime(), threads=1, max_ratio=KEEP, **options)


def manifest(model: Path) -> dict:
    return json.loads(fast_variant.manifest_path(model).read_text())


def test_variant_is_derived_once_verified_and_reused(model: Path) -> None:
    first = choose(model)
    assert first.variant == fast_variant.RECIPE and first.path != model and first.path.is_file()
    record = manifest(model)
    assert record["decision"] == "variant" and record["measured"]["max_abs_diff"] == 0.0
    assert record["measured"]["source_seconds"] > 0 and record["measured"]["variant_seconds"] > 0
    stamp = fast_variant.manifest_path(model).stat().st_mtime_ns
    again = choose(model)
    assert again == first
    assert fast_variant.manifest_path(model).stat().st_mtime_ns == stamp  # read, not derived again
    off = choose(model, enabled=False)
    assert off.path == model and "KOKORO_FAST_MODEL=false" in off.reason
    out = models_command(model, fast=True)  # what runs and why
    assert f"runs on: onnx ({first.path})" in out, out
    assert f"variant: {fast_variant.RECIPE}: 87 convs on the u8 x s8 GEMM, 50 squares as products, outputs bit-identical" in out, out
    out = models_command(model, fast=False)
    assert "variant: none: the fast variant is off (KOKORO_FAST_MODEL=false)" in out, out
    # a variant that is not faster here is recorded as such, and the original runs
    fast_variant.manifest_path(model).unlink()
    slow = fast_variant.choose(model, import_onnxruntime(), threads=1, max_ratio=0.0)
    assert slow.path == model and slow.variant is None and "not faster" in slow.reason
    assert manifest(model)["decision"] == "source" and not list(model.parent.glob(".variants/*.onnx"))


@pytest.mark.timeout(600)  # derives the variant three times: about a minute each on a loaded 2-core machine
def test_corrupt_or_stale_variant_is_derived_again(model: Path) -> None:
    first = choose(model)
    with first.path.open("r+b") as handle:  # flip bytes in the middle of the variant file
        handle.seek(first.path.stat().st_size // 2)
        handle.write(b"\x00" * 64)
    second = choose(model)
    assert second.variant == fast_variant.RECIPE
    assert fast_variant.file_sha256(second.path) == manifest(model)["variant_sha256"]
    record = manifest(model)
    record["onnxruntime"] = "0.0.1"  # made by another runtime: derived again
    fast_variant.manifest_path(model).write_text(json.dumps(record))
    assert choose(model).variant == fast_variant.RECIPE and manifest(model)["onnxruntime"] != "0.0.1"
    # unreadable, and without deriving (what `kokoro-server models` does): the original
    fast_variant.manifest_path(model).write_text("{not json")
    assert choose(model, derive=False).path == model


def test_unwritable_variants_folder_runs_the_original(model: Path) -> None:
    (model.parent / fast_variant.FOLDER).write_text("a file where the folder would go")
    choice = choose(model)
    assert choice.path == model and choice.variant is None
