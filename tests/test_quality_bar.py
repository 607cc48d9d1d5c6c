"""The quality bar (engine/derived/quality/bar.py): variants are judged against the float reference made from the
installed weights, and the bar's pass rule catches what it should. The reduced form runs here (one
utterance per voice: English and French, durations and distance); the full bar (16 utterances,
Whisper, DNSMOS) is behind the ``long`` marker and in ``bench/quality.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kokoro_server.engine.derived.quality.bar import CHECK_SET, QUICK_SET, QualityBar, onnx_renderer
from kokoro_server.optimize.check_set import check_utterances
from tests.support.ci import missing
from tests.support.models import DefaultModels


@pytest.fixture(scope="module")
def bar(model_file: Path, service) -> QualityBar:
    return QualityBar(model_file, check_utterances(service, QUICK_SET), threads=2, listen=False)


def test_the_float_reference_is_the_same_weights_without_activation_rounding(model_file: Path, bar: QualityBar) -> None:
    import onnx

    from kokoro_server.engine.derived.quality.reference import float_reference

    source = onnx.load(str(model_file))
    reference = float_reference(source)
    ops = [n.op_type for n in reference.graph.node]
    assert ops.count("ConvInteger") == 0 and ops.count("Conv") - [n.op_type for n in source.graph.node].count("Conv") == 87
    assert bar.reference.samples == bar.shipped.samples  # the duration predictor has no ConvInteger
    # the shipped model is a lossy quantization of these weights: about 1.4 dB log-mel away (measured)
    assert 0.8 < bar.shipped.mean_db < 2.0 and bar.reference.max_db == 0.0
    assert {u.lang for u in bar.utterances} == {"a", "b", "f"} and len({u.voice for u in bar.utterances}) == 4  # en-us, en-gb, fr


def test_the_bit_identical_rewrite_passes_and_degraded_audio_does_not(model_file: Path, bar: QualityBar) -> None:
    import onnx

    from kokoro_server.engine.derived.recipes.lossless_int8_gemm import rewrite

    lossless = bar.judge("lossless", onnx_renderer(rewrite(onnx.load(str(model_file))).model.SerializeToString(), 2))
    assert lossless.passed and lossless.level == "signal"
    assert lossless.variant.distances_db == bar.shipped.distances_db

    rng = np.random.default_rng(0)
    noisy = [a + rng.standard_normal(a.size).astype(np.float32) * 0.01 * float(np.abs(a).max())
             for a in bar.shipped_audio]
    verdict = bar.judge("noise at -40 dB", noisy)
    assert not verdict.passed and not verdict.checks["mean_distance"] and verdict.checks["durations"]
    assert "mean log-mel distance" in verdict.reasons[0]

    longer = [np.concatenate([a, np.zeros(600, np.float32)]) for a in bar.shipped_audio]
    verdict = bar.judge("one frame longer", longer)
    assert not verdict.passed and not verdict.checks["durations"] and verdict.checks["mean_distance"]


def native_here() -> None:
    """Skip unless the native recipe is for this machine; a missing package fails under CI=true
    (.ci/run installs it), a CPU path the full bar has not passed is a skip."""
    from kokoro_server.engine.derived.recipes.native_generator import native_available

    why = native_available()
    if why is not None:
        (missing if "not installed" in why else pytest.skip)(why)


def test_the_default_file_runs_the_native_generator_judged_by_the_bar(default_models: DefaultModels, bar: QualityBar,
                                                                      service) -> None:
    native_here()
    import json

    from kokoro_server.engine.base import FRAME_SAMPLES
    from kokoro_server.engine.derived.recipes import native_generator
    from kokoro_server.engine.derived.store import DerivedStore

    # the store derived it for the default settings, judged it by the bar (signal level) and kept it
    assert native_generator.RECIPE.id in default_models.applied, default_models.reason
    assert "passed the quality bar" in default_models.reason and "bit-identical" not in default_models.reason
    manifest = json.loads(DerivedStore(default_models.source.parent).folder.joinpath(
        default_models.runs.name[:-len(".onnx")] + ".json").read_text())
    figures = manifest["facts"]["native-generator_quality"]
    assert figures["passed"] and figures["level"] == "signal" and figures["checks"]["durations"]
    # the server's backend runs it through the recipe's runner
    backend = service.models.get("v1_0").backend
    assert backend.model.path == default_models.runs and backend.model.runner is native_generator.open_file
    # and on the bar's real utterances (voices, English and French) it passes too, durations output included
    session = native_generator.session(default_models.runs, 2)
    assert [o.name for o in session.get_outputs()] == ["audio", "durations"]
    outputs = {}

    def render(u):
        outputs[u.text] = session.run(None, u.feeds())
        return outputs[u.text][0].reshape(-1)

    verdict = bar.judge("native", render)
    assert verdict.passed, verdict.reasons
    assert verdict.variant.samples == bar.shipped.samples
    for u in bar.utterances:
        audio, durations = outputs[u.text]
        assert durations.size == len(u.tokens) + 2 and int(durations.sum()) * FRAME_SAMPLES == audio.size


def test_without_the_kernels_the_native_file_is_not_wanted_and_runs_as_the_lossless_graph(
        default_models: DefaultModels, monkeypatch: pytest.MonkeyPatch, service) -> None:
    native_here()
    import sys

    from kokoro_server.engine.derived.recipes import native_generator
    from kokoro_server.engine.onnx_runtime import ModelFile, OnnxBackend
    from tests.support.derived import wanted
    from tests.support.engine import engine_inputs

    (tokens, style), = engine_inputs(service, ["The harbour town woke slowly."], "af_heart")
    native = OnnxBackend(ModelFile(default_models.runs), threads=1)  # onnxruntime alone: no runner
    plain = OnnxBackend(default_models.source, threads=1)
    try:
        # the same graph as the lossless file: bit-identical to the shipped model
        np.testing.assert_array_equal(native.synthesize(tokens, style, 1.0).audio, plain.synthesize(tokens, style, 1.0).audio)
    finally:
        native.close()
        plain.close()
    monkeypatch.setitem(sys.modules, "kokoro_native", None)  # as where the package could not be built
    assert native_generator.RECIPE not in wanted(default_models.source).recipes


@pytest.mark.long
def test_full_bar_on_the_native_generator(model_file: Path, service) -> None:
    from kokoro_server.engine.derived.quality import listen
    from kokoro_server.engine.derived.recipes import native_generator

    native_here()
    if not all(listen.available().values()):
        missing("the quality bar's listeners are not installed (pip install 'kokoro-server[quality]')")
    bar = QualityBar(model_file, check_utterances(service, CHECK_SET), threads=2, listen=True)
    verdict = bar.judge(native_generator.RECIPE.id, native_generator.renderer(model_file, 2))
    assert verdict.level == "full" and verdict.passed, verdict.reasons
    assert verdict.record()["variant"]["word_errors"] <= verdict.record()["shipped"]["word_errors"]
