"""The ONNX model's durations: the durations-output recipe adds them as a second graph output, in
memory when first asked for and in the derived file; checked bit-identical, kept in the store,
derived again when stale; refused clearly where impossible."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kokoro_server.engine.base import FRAME_SAMPLES
from kokoro_server.engine.derived.store import DerivedStore, Entry
from kokoro_server.engine.onnx_runtime import ModelFile, OnnxBackend, durations_in_memory
from kokoro_server.errors import TimestampsUnavailableError
from kokoro_server.service import SpeechRequest, SpeechService
from kokoro_server.settings import Settings
from tests.support.derived import copy_store, derived, linked_model, wanted
from tests.support.engine import engine_inputs

TEXTS = ["Hello there.", "The quick brown fox jumps over the lazy dog near the river bank."]


@pytest.fixture(scope="module")
def utterances(service: SpeechService) -> list[tuple[list[int], np.ndarray]]:
    return engine_inputs(service, TEXTS)


@pytest.fixture(scope="module")
def with_durations(tmp_path_factory: pytest.TempPathFactory, model_file: Path) -> Path:
    """The model linked into a folder where its derived file (durations, optimized graph) was made."""
    model = linked_model(tmp_path_factory.mktemp("durations") / "data" / "models" / "v1_0", model_file)
    assert derived(model, fast=False).made
    return model


def manifest(model: Path) -> dict:
    return json.loads(DerivedStore(model.parent).manifest_path(wanted(model, fast=False).key).read_text())


def test_durations_give_identical_audio(service: SpeechService, model_file: Path, with_durations: Path,
                                        utterances) -> None:
    """Both ways the service gets durations: added in memory (a model as installed, when first asked
    for), and the derived file."""
    backend = service.models.get("v1_0").backend
    assert backend.durations_problem is None  # asked for: added
    record = manifest(with_durations)
    assert record["applied"] == ["durations-output/1"] and record["facts"]["check_utterances"] >= 3
    assert record["facts"]["durations_tensor"] == "/encoder/Cast_output_0"  # the predictor's rounded int64 frames
    file = DerivedStore(with_durations.parent).folder / record["file"]
    data, problem = durations_in_memory(model_file)
    assert problem is None and data is not None
    source = OnnxBackend(model_file, threads=2)
    in_memory = OnnxBackend(ModelFile(model_file, data), threads=2)
    timed = OnnxBackend(ModelFile(file, optimized=True), threads=2)
    try:
        assert source.durations_problem is not None
        assert in_memory.durations_problem is None and timed.durations_problem is None
        for tokens, style in utterances:
            for speed in (1.0, 1.5):
                plain = source.synthesize(tokens, style, speed)
                assert plain.durations is None
                for backend in (in_memory, timed):
                    out = backend.synthesize(tokens, style, speed)
                    np.testing.assert_array_equal(out.audio, plain.audio)  # bit for bit
                    assert out.durations.shape == (len(tokens) + 2,) and (out.durations >= 1).all()
                    assert int(out.durations.sum()) * FRAME_SAMPLES == out.audio.size
    finally:
        for backend in (source, in_memory, timed):
            backend.close()


def test_derived_file_is_kept_and_derived_again_when_stale(tmp_path: Path, model_file: Path,
                                                           with_durations: Path) -> None:
    model = linked_model(tmp_path / "models" / "v1_0", model_file)
    copy_store(with_durations, model)
    store = DerivedStore(model.parent)
    key = wanted(model, fast=False).key
    file = store.file_path(key)
    stamp = file.stat().st_mtime_ns
    assert not derived(model, fast=False).made  # kept: nothing derived
    assert file.stat().st_mtime_ns == stamp

    record = json.loads(store.manifest_path(key).read_text())
    with file.open("r+b") as handle:  # corrupt bytes in the file: not used
        handle.seek(1000)
        handle.write(b"\xff" * 16)
    assert store.read(key, model).path is None and not file.exists()

    copy = dict(record, source_sha256="0" * 64, source_mtime_ns=1)  # "the model file changed"
    store.manifest_path(key).write_text(Entry.from_json(json.dumps(copy)).to_json())
    again = derived(model, fast=False)
    assert again.made and again.entry.durations_problem is None
    renewed = json.loads(store.manifest_path(key).read_text())
    assert renewed["source_sha256"] == record["source_sha256"]
    assert store.read(key, model).path == file


def test_model_without_durations_speaks_but_refuses_timestamps(tiny_dir: Path) -> None:
    model = tiny_dir / "models" / "v1_0" / "kokoro-v1_0.onnx"
    data, problem = durations_in_memory(model)
    assert data is None and "no durations output" in problem and "Round -> Clip -> Cast" in problem
    service = SpeechService(Settings(data_dir=tiny_dir, threads=1, embedded_model=False))
    try:
        prepared = service.prepare(SpeechRequest(text="Hello.", voice="af_heart"))
        assert [c.durations for c in service.stream(prepared)] == [None]  # audio still works
        with pytest.raises(TimestampsUnavailableError) as caught:
            service.require_timestamps(prepared)
        assert caught.value.status_code == 422 and "kokoro-v1_0.onnx" in caught.value.message
    finally:
        service.close()
