"""`kokoro-server optimize`: the derived model is judged by the quality bar (against the float
reference), installed atomically, used, and never run when stale or corrupt; speech stays the same
(durations, spectrum, transcription)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kokoro_server.cli import main
from kokoro_server.engine.derived.quality import bar as quality_bar
from kokoro_server.engine.derived.quality.bar import CHECK_SET
from kokoro_server.engine.derived.recipes.calibrated_int8 import CALIBRATION_SET
from kokoro_server.optimize.command import (NOISE_BRANCH, Optimized, QualityCheckFailed, derived_path, manifest_path,
                                            optimize, usable_derived)
from kokoro_server.engine.derived.quality.distance import log_mel_distance
from kokoro_server.service import SpeechRequest, SpeechService
from kokoro_server.settings import Settings
from tests.conftest import fill_data_dir
from tests.support.engine import engine_inputs
from tests.support.whisper import words


def data_dir_with_model(root: Path, assets: Path, model_file: Path) -> Path:
    fill_data_dir(root, assets, versions=("v1_0",))
    (root / "models" / "v1_0").mkdir(parents=True)
    (root / "models" / "v1_0" / model_file.name).symlink_to(model_file)
    return root


@pytest.fixture(scope="module")
def opt_dir(tmp_path_factory: pytest.TempPathFactory, assets: Path, model_file: Path) -> Path:
    return data_dir_with_model(tmp_path_factory.mktemp("kokoro-opt"), assets, model_file)


@pytest.fixture(scope="module")
def optimized(opt_dir: Path) -> Optimized:
    return optimize(Settings(data_dir=opt_dir, threads=2), "v1_0", groups=NOISE_BRANCH,
                    calibration_set=CALIBRATION_SET[:3], check_set=[CHECK_SET[0], CHECK_SET[12]], listen=False)  # en + fr


def test_optimized_model_passes_its_check_and_is_installed(optimized: Optimized) -> None:
    import onnx

    from kokoro_server.engine.derived.int8_chains import NOISE_BRANCH as NOISE_CONVS, find_chains

    verdict = optimized.verdict
    assert verdict is not None and verdict.passed and verdict.checks["durations"] and len(verdict.variant.samples) == 2
    assert verdict.variant.mean_db <= verdict.shipped.mean_db + quality_bar.MEAN_MARGIN_DB and optimized.convs == 14
    assert optimized.path == derived_path(optimized.source) and usable_derived(optimized.source) == optimized.path
    manifest = json.loads(manifest_path(optimized.source).read_text())
    quality = manifest["facts"]["quality"]
    assert manifest["applied"] == ["calibrated-int8/1"] and quality["checks"]["durations"] and quality["passed"]
    assert quality["static_groups"] == list(NOISE_BRANCH) and quality["level"] == "signal" and quality["cpu_kind"]
    assert manifest["key"]["cpu"] == "any"  # portable: judged by the bar, it runs on any machine
    assert [p.name for p in optimized.path.parent.iterdir() if p.name.endswith(".tmp")] == []

    source, derived = onnx.load(str(optimized.source)), onnx.load(str(optimized.path))
    ops = [n.op_type for n in derived.graph.node]
    assert ops.count("QLinearConv") == 14 and not find_chains(derived, NOISE_CONVS.search)
    kept = {(n.name, n.op_type, tuple(n.input), tuple(n.output)) for n in derived.graph.node}
    # outside the generator only the lossless rewrite's exact changes (int8 convs on the GEMM, squares as products)
    outside = [n for n in source.graph.node if "generator" not in n.name and n.op_type not in ("ConvInteger", "Pow")]
    assert outside and all((n.name, n.op_type, tuple(n.input), tuple(n.output)) in kept for n in outside)


def test_service_runs_the_optimized_model_unless_turned_off(optimized: Optimized, opt_dir: Path) -> None:
    for use, name in ((True, optimized.path.name), (False, optimized.source.name)):
        service = SpeechService(Settings(data_dir=opt_dir, threads=2, use_optimized_model=use, fast_model=False))
        try:
            assert name in service.models.get("v1_0").backend.description
        finally:
            service.close()


@pytest.mark.slow
def test_optimized_model_says_the_same(optimized: Optimized, opt_dir: Path, transcriber) -> None:
    text = "Scientists discovered a new species of frog in the rainforest last year."
    audio, model_audio = {}, {}
    for use in (False, True):
        service = SpeechService(Settings(data_dir=opt_dir, threads=2, use_optimized_model=use, fast_model=False))
        try:
            audio[use] = service.synthesize(SpeechRequest(text=text, voice="bf_emma"))
            (tokens, style), = engine_inputs(service, [text], "bf_emma")
            model_audio[use] = service.models.get("v1_0").backend.synthesize(tokens, style, 1.0).audio
        finally:
            service.close()
    assert model_audio[True].size == model_audio[False].size  # same durations (before edge silence is cut)
    assert log_mel_distance(model_audio[False], model_audio[True]) <= 1.25  # int8 roundings move it up to ~0.7 dB
    assert words(transcriber(audio[True])) == words(transcriber(audio[False]))


def test_rerun_is_a_no_op_and_models_shows_it(optimized: Optimized, opt_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stamp = optimized.path.stat().st_mtime_ns
    assert main(["--data-dir", str(opt_dir), "optimize"]) == 0
    assert "up to date" in capsys.readouterr().out and optimized.path.stat().st_mtime_ns == stamp
    assert main(["--data-dir", str(opt_dir), "models"]) == 0
    assert f"runs on: onnx ({optimized.path})" in capsys.readouterr().out


def test_corrupt_or_stale_derived_model_is_not_run(optimized: Optimized, tmp_path: Path) -> None:
    source = tmp_path / optimized.source.name
    source.symlink_to(optimized.source.resolve())
    derived_path(source).parent.mkdir()
    manifest = json.loads(manifest_path(optimized.source).read_text())

    def put(record: dict | str) -> None:
        """The store's file and a manifest beside ``source`` (a stale one is deleted when read)."""
        shutil.copy(optimized.path, derived_path(source))
        manifest_path(source).write_text(record if isinstance(record, str) else json.dumps(record))

    put(manifest)
    assert usable_derived(source) == derived_path(source)
    made_by_another = dict(manifest["key"], recipes=["calibrated-int8/0"])
    for key, value in (("key", made_by_another), ("source_sha256", "0" * 64)):
        put(dict(manifest, **{key: value}, source_mtime_ns=manifest["source_mtime_ns"] - 1))
        assert usable_derived(source) is None, key
        assert not derived_path(source).exists(), key  # a stale file is deleted, never served later

    put(manifest)
    with derived_path(source).open("r+b") as handle:
        handle.seek(50_000_000)
        handle.write(b"\0" * 16)
    assert usable_derived(source) is None
    put("{broken")
    assert usable_derived(source) is None


def test_failed_quality_check_installs_nothing(tmp_path: Path, assets: Path, model_file: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    root = data_dir_with_model(tmp_path, assets, model_file)
    monkeypatch.setattr(quality_bar, "MEAN_MARGIN_DB", -5.0)  # no derived model can be this close
    with pytest.raises(QualityCheckFailed, match="nothing was installed"):
        optimize(Settings(data_dir=root, threads=2), "v1_0", groups=NOISE_BRANCH,
                 calibration_set=[("af_heart", "Hi there, Sam.")], check_set=[("af_heart", "Good night.")], listen=False)
    assert sorted(p.name for p in (root / "models" / "v1_0").iterdir()) == [model_file.name]
