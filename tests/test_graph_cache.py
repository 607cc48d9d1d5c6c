"""onnxruntime's optimized graph, kept as the derived file in the store: reused when valid, identical
output; stale, corrupt, another machine's or unwritable falls back to the model as installed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from kokoro_server.engine.derived.select import choose
from kokoro_server.engine.derived.store import DerivedStore, Entry, Key
from kokoro_server.engine.onnx_runtime import OnnxBackend
from kokoro_server.engine.onnx_runtime import model_file as opened_file
from kokoro_server.engine.ort import import_onnxruntime
from kokoro_server.service import SpeechRequest, SpeechService
from kokoro_server.settings import Settings
from tests.support.derived import copy_store, derived, linked_model, wanted
from tests.support.engine import engine_inputs

OTHER_CPU = "x86_64-0123456789ab"  # another machine sharing the data dir


@pytest.fixture(scope="module")
def utterance(service: SpeechService) -> tuple[list[int], np.ndarray]:
    return engine_inputs(service, ["Hello there."])[0]


@pytest.fixture(scope="module")
def reference(model_file: Path, utterance) -> np.ndarray:
    backend = OnnxBackend(model_file, threads=1)
    assert not backend.model.optimized
    return backend.synthesize(*utterance, 1.0).audio


@pytest.fixture(scope="module")
def graph_once(tmp_path_factory: pytest.TempPathFactory, model_file: Path) -> Path:
    model = linked_model(tmp_path_factory.mktemp("graph") / "data" / "models" / "v1_0", model_file)
    assert derived(model, fast=False).made
    return model


@pytest.fixture
def model(tmp_path: Path, model_file: Path) -> Path:
    """The real model, linked into a fresh folder (so its store starts empty)."""
    return linked_model(tmp_path / "data" / "models" / "v1_0", model_file)


def settings(model: Path) -> Settings:
    return Settings(data_dir=model.parents[2], fast_model=False)


def start(model: Path, utterance) -> tuple[bool, np.ndarray]:
    """(whether the saved graph ran, the audio) of a backend opened on what the store chooses."""
    selection = choose(model, settings(model), "cpu", import_onnxruntime().__version__)
    backend = OnnxBackend(opened_file(selection), threads=1)
    try:
        return backend.model.optimized, backend.synthesize(*utterance, 1.0).audio
    finally:
        backend.close()


def key(model: Path) -> Key:
    return wanted(model, fast=False).key


def test_graph_is_saved_once_then_loaded_with_identical_output(graph_once: Path, model: Path, utterance,
                                                                reference) -> None:
    copy_store(graph_once, model)
    store = DerivedStore(model.parent)
    graph = store.file_path(key(model))
    stamp = graph.stat().st_mtime_ns
    for _ in range(2):
        optimized, audio = start(model, utterance)
        assert optimized
        np.testing.assert_array_equal(audio, reference)
    assert not derived(model, fast=False).made and graph.stat().st_mtime_ns == stamp  # not rewritten
    assert [p.name for p in store.folder.iterdir() if p.name.endswith(".tmp")] == []


def test_corrupt_saved_graph_is_never_served(graph_once: Path, model: Path, utterance, reference) -> None:
    copy_store(graph_once, model)
    graph = DerivedStore(model.parent).file_path(key(model))
    with graph.open("r+b") as handle:  # flip bytes inside the weights: still parses, wrong numbers
        handle.seek(graph.stat().st_size // 2)
        chunk = handle.read(64)
        handle.seek(graph.stat().st_size // 2)
        handle.write(bytes(b ^ 0xFF for b in chunk))
    optimized, audio = start(model, utterance)
    assert not optimized  # the model as installed
    np.testing.assert_array_equal(audio, reference)
    assert derived(model, fast=False).made and start(model, utterance)[0]


def test_truncated_or_missing_graph_falls_back(graph_once: Path, model: Path, utterance, reference) -> None:
    copy_store(graph_once, model)
    graph = DerivedStore(model.parent).file_path(key(model))
    graph.write_bytes(graph.read_bytes()[:1000])
    optimized, audio = start(model, utterance)
    assert not optimized
    np.testing.assert_array_equal(audio, reference)
    assert DerivedStore(model.parent).read(key(model), model).entry is None  # dropped with its file
    assert derived(model, fast=False).made and start(model, utterance)[0]


def test_graph_of_another_source_is_stale(graph_once: Path, model: Path, utterance, reference) -> None:
    copy_store(graph_once, model)
    store = DerivedStore(model.parent)
    manifest = json.loads(store.manifest_path(key(model)).read_text())
    manifest["source_sha256"] = "0" * 64  # as if made from other bytes ...
    manifest["source_mtime_ns"] -= 1  # ... of a file whose stamp differs
    store.manifest_path(key(model)).write_text(json.dumps(manifest))
    optimized, audio = start(model, utterance)
    assert not optimized
    np.testing.assert_array_equal(audio, reference)
    store.manifest_path(key(model)).write_text("{not json")
    assert not start(model, utterance)[0]


def test_graphs_of_other_cpus_sharing_the_data_dir_are_never_deleted(graph_once: Path, model: Path) -> None:
    """A replica on another CPU type derived its file in the same (shared) folder: ours is made beside
    it, and replacing our own stale file leaves it alone."""
    copy_store(graph_once, model)
    store = DerivedStore(model.parent)
    ours = json.loads(store.manifest_path(key(model)).read_text())
    theirs = Entry.from_json(json.dumps(dict(ours, key=dict(ours["key"], cpu=OTHER_CPU))))
    theirs.file = theirs.key.stem + ".onnx"
    store.file_path(theirs.key).write_text("another CPU's")
    store.manifest_path(theirs.key).write_text(theirs.to_json())
    store.manifest_path(key(model)).write_text("{not json")  # our own is unusable: dropped and made again
    assert derived(model, fast=False).made
    assert store.file_path(theirs.key).read_text() == "another CPU's"
    assert Entry.from_json(store.manifest_path(theirs.key).read_text()).key.cpu == OTHER_CPU


def test_touched_but_unchanged_model_keeps_its_graph(graph_once: Path, model: Path, utterance) -> None:
    copy_store(graph_once, model)
    store = DerivedStore(model.parent)
    manifest = json.loads(store.manifest_path(key(model)).read_text())
    manifest["source_mtime_ns"] -= 1  # the stamp differs, the bytes do not: hashed once, then trusted
    store.manifest_path(key(model)).write_text(json.dumps(manifest))
    assert start(model, utterance)[0]
    assert json.loads(store.manifest_path(key(model)).read_text())["source_mtime_ns"] == os.stat(model).st_mtime_ns


def test_unwritable_store_still_serves(model: Path, assets: Path, utterance, reference) -> None:
    from tests.conftest import fill_data_dir

    (model.parent / ".derived").write_text("a file where the folder would go")
    optimized, audio = start(model, utterance)
    assert not optimized
    np.testing.assert_array_equal(audio, reference)
    service = SpeechService(Settings(data_dir=fill_data_dir(model.parents[2], assets, versions=("v1_0",)), threads=1))
    try:
        assert service.synthesize(SpeechRequest(text="Hello.", voice="af_heart")).size > 12_000
    finally:
        service.close()
