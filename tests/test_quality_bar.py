"""The quality bar (optimize/bar.py): variants are judged against the float reference made from the
installed weights, and the bar's pass rule catches what it should. The reduced form runs here (one
utterance per voice: English and French, durations and distance); the full bar (16 utterances,
Whisper, DNSMOS) is behind the ``long`` marker and in ``bench/quality.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kokoro_server.optimize.bar import CHECK_SET, QUICK_SET, QualityBar, check_utterances, onnx_renderer
from tests.support.ci import missing


@pytest.fixture(scope="module")
def bar(model_file: Path, service) -> QualityBar:
    return QualityBar(model_file, check_utterances(service, QUICK_SET), threads=2, listen=False)


def test_the_float_reference_is_the_same_weights_without_activation_rounding(model_file: Path, bar: QualityBar) -> None:
    import onnx

    from kokoro_server.optimize.reference import float_reference

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

    from kokoro_server.optimize.lossless import rewrite

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


def test_the_native_generator_passes_the_bar(model_file: Path, bar: QualityBar, tmp_path: Path) -> None:
    from kokoro_server.optimize import native_generator

    why = native_generator.native_available()
    if why is not None:
        missing(why)
    from kokoro_server.engine.base import FRAME_SAMPLES
    from kokoro_server.engine.durations_model import with_durations

    # derived from what the server runs: the model with its durations output (same audio, bit for bit)
    runs = with_durations(model_file, threads=2)
    assert runs.has_durations
    info = native_generator.derive(runs.path, tmp_path / "native")
    assert info["convs"] == 48 and sorted(p.name for p in (tmp_path / "native").iterdir()) == sorted(native_generator.FILES)
    session = native_generator.NativeGeneratorSession(tmp_path / "native", 2)
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


@pytest.mark.long
def test_full_bar_on_the_native_generator(model_file: Path, service, tmp_path: Path) -> None:
    from kokoro_server.optimize import listen, native_generator

    if native_generator.native_available() is not None:
        missing(native_generator.native_available())
    if not all(listen.available().values()):
        missing("the quality bar's listeners are not installed (pip install 'kokoro-server[quality]')")
    from kokoro_server.optimize.recipes import NATIVE, judge

    NATIVE.derive(model_file, tmp_path / "native")
    verdict = judge(NATIVE, model_file, tmp_path / "native", check_utterances(service, CHECK_SET), listen=True)
    assert verdict.level == "full" and verdict.passed, verdict.reasons
    assert verdict.record()["variant"]["word_errors"] <= verdict.record()["shipped"]["word_errors"]
