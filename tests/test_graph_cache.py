"""The saved optimized graph: reused when valid; stale, corrupt or unwritable falls back to the model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from kokoro_server.engine.graph_cache import FOLDER
from kokoro_server.engine.onnx_runtime import OnnxBackend
from kokoro_server.service import SpeechService
from tests.support.engine import engine_inputs


@pytest.fixture(scope="module")
def utterance(service: SpeechService) -> tuple[list[int], np.ndarray]:
    return engine_inputs(service, ["Hello there."])[0]


@pytest.fixture(scope="module")
def reference(model_file: Path, utterance) -> np.ndarray:
    backend = OnnxBackend(model_file, threads=1, save_graph=False)
    assert backend.graph_origin == "not saved"
    return backend.synthesize(*utterance, 1.0).audio


@pytest.fixture
def model(tmp_path: Path, model_file: Path) -> Path:
    """The real model, linked into a fresh folder (so its cache folder starts empty)."""
    link = tmp_path / model_file.name
    link.symlink_to(model_file)
    return link


def start(model: Path, utterance) -> tuple[str, np.ndarray]:
    backend = OnnxBackend(model, threads=1)
    try:
        return backend.graph_origin, backend.synthesize(*utterance, 1.0).audio
    finally:
        backend.close()


OTHER_CPU = "0123456789ab"  # the fingerprint digest of another machine's graph


def manifest_of(model: Path) -> Path:
    """This machine's manifest (named by its fingerprint: model, runtime, level, CPU)."""
    found = [p for p in (model.parent / FOLDER).glob(f"{model.name}.*.json") if OTHER_CPU not in p.name]
    assert len(found) == 1, found
    return found[0]


def saved_graph(model: Path) -> Path:
    manifest = json.loads(manifest_of(model).read_text())
    return model.parent / FOLDER / manifest["graph_file"]


def test_graph_is_saved_once_then_loaded_with_identical_output(model: Path, utterance, reference) -> None:
    origin, audio = start(model, utterance)
    assert origin.startswith("saved to"), origin
    np.testing.assert_array_equal(audio, reference)
    graph = saved_graph(model)
    stamp = graph.stat().st_mtime_ns
    for _ in range(2):
        origin, audio = start(model, utterance)
        assert origin.startswith("loaded from"), origin
        np.testing.assert_array_equal(audio, reference)
    assert saved_graph(model) == graph and graph.stat().st_mtime_ns == stamp  # not rewritten
    assert [p.name for p in (model.parent / FOLDER).iterdir() if p.name.endswith(".tmp")] == []


def test_corrupt_saved_graph_is_never_served(model: Path, utterance, reference) -> None:
    start(model, utterance)
    graph = saved_graph(model)
    with graph.open("r+b") as handle:  # flip bytes inside the weights: still parses, wrong numbers
        handle.seek(graph.stat().st_size // 2)
        chunk = handle.read(64)
        handle.seek(graph.stat().st_size // 2)
        handle.write(bytes(b ^ 0xFF for b in chunk))
    origin, audio = start(model, utterance)
    assert origin.startswith("saved to"), origin  # rebuilt from the model
    np.testing.assert_array_equal(audio, reference)
    assert start(model, utterance)[0].startswith("loaded from")


def test_truncated_or_missing_graph_falls_back(model: Path, utterance, reference) -> None:
    start(model, utterance)
    graph = saved_graph(model)
    graph.write_bytes(graph.read_bytes()[:1000])
    origin, audio = start(model, utterance)
    assert origin.startswith("saved to") and saved_graph(model).stat().st_size > 1000  # whole again
    np.testing.assert_array_equal(audio, reference)
    saved_graph(model).unlink()
    assert start(model, utterance)[0].startswith("saved to")


def test_graph_from_another_runtime_or_source_is_stale(model: Path, utterance, reference) -> None:
    start(model, utterance)
    manifest_path = manifest_of(model)
    manifest = json.loads(manifest_path.read_text())
    manifest["fingerprint"]["onnxruntime"] = "0.0.1"
    manifest_path.write_text(json.dumps(manifest))
    assert start(model, utterance)[0].startswith("saved to")

    manifest = json.loads(manifest_path.read_text())
    manifest["source_sha256"] = "0" * 64  # as if made from other bytes ...
    manifest["source_mtime_ns"] -= 1  # ... of a file whose stamp differs
    manifest_path.write_text(json.dumps(manifest))
    origin, audio = start(model, utterance)
    assert origin.startswith("saved to")
    np.testing.assert_array_equal(audio, reference)

    manifest_path.write_text("{not json")
    assert start(model, utterance)[0].startswith("saved to")


def test_graphs_of_other_cpus_sharing_the_data_dir_are_never_deleted(model: Path, utterance) -> None:
    """A replica on another CPU type saved its graph in the same (shared) folder: ours is made beside
    it, and replacing our own stale graph leaves it alone."""
    folder = model.parent / FOLDER
    folder.mkdir()
    theirs = [folder / f"{model.name}.{OTHER_CPU}.json", folder / f"{model.name}.{OTHER_CPU}.fedcba987654.onnx"]
    for path in theirs:
        path.write_text("another CPU's")
    assert start(model, utterance)[0].startswith("saved to")
    manifest_of(model).write_text("{not json")  # our own is unusable: dropped and made again
    assert start(model, utterance)[0].startswith("saved to")
    assert all(path.read_text() == "another CPU's" for path in theirs)


def test_touched_but_unchanged_model_keeps_its_graph(model: Path, utterance) -> None:
    start(model, utterance)
    manifest_path = manifest_of(model)
    manifest = json.loads(manifest_path.read_text())
    manifest["source_mtime_ns"] -= 1  # the stamp differs, the bytes do not: hashed once, then trusted
    manifest_path.write_text(json.dumps(manifest))
    assert start(model, utterance)[0].startswith("loaded from")
    assert json.loads(manifest_path.read_text())["source_mtime_ns"] == os.stat(model).st_mtime_ns


def test_unwritable_cache_folder_still_serves(model: Path, utterance, reference) -> None:
    (model.parent / FOLDER).write_text("a file where the folder would go")
    origin, audio = start(model, utterance)
    assert origin == "not saved"
    np.testing.assert_array_equal(audio, reference)
