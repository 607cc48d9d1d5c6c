"""The ONNX model's durations: a variant of the graph with a second output, derived once, checked
bit-identical, kept beside the model, derived again when stale; refused clearly where impossible."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kokoro_server.engine.base import FRAME_SAMPLES
from kokoro_server.engine.durations_model import (Manifest, from_manifest, manifest_path, variant_path,
                                                 with_durations)
from kokoro_server.engine.onnx_runtime import OnnxBackend
from kokoro_server.errors import TimestampsUnavailableError
from kokoro_server.service import SpeechRequest, SpeechService
from kokoro_server.settings import Settings
from tests.support.engine import engine_inputs

TEXTS = ["Hello there.", "The quick brown fox jumps over the lazy dog near the river bank."]


@pytest.fixture(scope="module")
def utterances(service: SpeechService) -> list[tuple[list[int], np.ndarray]]:
    return engine_inputs(service, TEXTS)


def test_variant_gives_identical_audio_with_durations(service: SpeechService, model_file: Path, utterances) -> None:
    """The variant the service runs (derived when the session's model was first loaded)."""
    assert service.models.get("v1_0").backend.durations_problem is None
    derived = with_durations(model_file)
    assert derived.has_durations and derived.path == variant_path(model_file)
    manifest = json.loads(manifest_path(model_file).read_text())
    assert manifest["kind"] == "variant" and manifest["checked_utterances"] >= 3
    assert manifest["tensor"] == "/encoder/Cast_output_0"  # the predictor's rounded int64 frames
    source = OnnxBackend(model_file, threads=2, save_graph=False)
    timed = OnnxBackend(derived.path, threads=2, save_graph=False)
    try:
        assert source.durations_problem is not None and timed.durations_problem is None
        for tokens, style in utterances:
            for speed in (1.0, 1.5):
                plain, out = source.synthesize(tokens, style, speed), timed.synthesize(tokens, style, speed)
                assert plain.durations is None
                np.testing.assert_array_equal(out.audio, plain.audio)  # bit for bit
                assert out.durations.shape == (len(tokens) + 2,) and (out.durations >= 1).all()
                assert int(out.durations.sum()) * FRAME_SAMPLES == out.audio.size
    finally:
        source.close()
        timed.close()


def test_variant_is_kept_and_derived_again_when_stale(tmp_path: Path, model_file: Path, service: SpeechService) -> None:
    with_durations(model_file)  # the plain model's variant exists (derived once per session)
    model = tmp_path / model_file.name
    model.symlink_to(model_file)
    variant_path(model).parent.mkdir()
    shutil.copy(variant_path(model_file), variant_path(model))
    shutil.copy(manifest_path(model_file), manifest_path(model))
    stamp = variant_path(model).stat().st_mtime_ns
    assert with_durations(model).path == variant_path(model)  # kept: nothing derived
    assert variant_path(model).stat().st_mtime_ns == stamp

    manifest = json.loads(manifest_path(model).read_text())
    with variant_path(model).open("r+b") as handle:  # corrupt bytes in the variant: not used
        handle.seek(1000)
        handle.write(b"\xff" * 16)
    assert from_manifest(model, Manifest(**manifest)) is None

    manifest["source_sha256"], manifest["source_mtime_ns"] = "0" * 64, 1  # "the model file changed"
    manifest_path(model).write_text(json.dumps(manifest))
    again = with_durations(model, threads=2)
    assert again.has_durations and again.path == variant_path(model)
    renewed = json.loads(manifest_path(model).read_text())
    assert renewed["source_sha256"] == json.loads(manifest_path(model_file).read_text())["source_sha256"]
    assert from_manifest(model, Manifest(**renewed)) == again


def test_model_without_durations_speaks_but_refuses_timestamps(tiny_dir: Path) -> None:
    model = tiny_dir / "models" / "v1_0" / "kokoro-v1_0.onnx"
    found = with_durations(model)
    assert not found.has_durations and found.path == model
    assert "no durations output" in found.problem and "Round -> Clip -> Cast" in found.problem
    service = SpeechService(Settings(data_dir=tiny_dir, threads=1, embedded_model=False))
    try:
        prepared = service.prepare(SpeechRequest(text="Hello.", voice="af_heart"))
        assert [c.durations for c in service.stream(prepared)] == [None]  # audio still works
        with pytest.raises(TimestampsUnavailableError) as caught:
            service.require_timestamps(prepared)
        assert caught.value.status_code == 422 and "kokoro-v1_0.onnx" in caught.value.message
    finally:
        service.close()
