"""A recipe is one module and one registration line: a lossy recipe registered here, in the test, is
applied by the derivation, judged by its own quality check instead of bit-identity, recorded in the
manifest, and dropped (with the reason) when its check fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kokoro_server.engine.derived.recipes import RECIPES, Applied, Recipe, RecipeContext
from kokoro_server.engine.derived.store import DerivedStore
from tests.support.derived import derived, linked_model, wanted

HALF = 0.5


def half_volume(model, context: RecipeContext) -> Applied:
    """The audio output multiplied by 0.5: a change of the speech, as a lossy recipe makes one."""
    from onnx import helper, numpy_helper

    audio = model.graph.output[0].name
    for node in model.graph.node:
        node.output[:] = [f"{audio}_full" if name == audio else name for name in node.output]
    model.graph.initializer.append(numpy_helper.from_array(np.array(HALF, dtype=np.float32), "half_volume"))
    model.graph.node.append(helper.make_node("Mul", [f"{audio}_full", "half_volume"], [audio], name="half_volume"))
    return Applied(model, True, "the audio at half volume")


def volume_ratio(reference, candidate, context: RecipeContext) -> float:
    feed = context.check_feeds[2]
    name = reference.get_outputs()[0].name
    return float(np.abs(candidate.run([name], feed)[0]).sum() / np.abs(reference.run([name], feed)[0]).sum())


def at_half_volume(reference, candidate, context: RecipeContext) -> tuple[bool, dict[str, float]]:
    ratio = volume_ratio(reference, candidate, context)
    return abs(ratio - HALF) < 1e-3, {"volume_ratio": ratio}


def as_loud(reference, candidate, context: RecipeContext) -> tuple[bool, dict[str, float]]:
    ratio = volume_ratio(reference, candidate, context)
    return abs(ratio - 1.0) < 1e-3, {"volume_ratio": ratio}


@pytest.mark.parametrize("check, kept", [(at_half_volume, True), (as_loud, False)])
def test_a_registered_lossy_recipe_is_judged_by_its_quality_check(tmp_path: Path, model_file: Path, check, kept,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = Recipe(name="half-volume", version=1, apply=half_volume, purpose="function", exact=False,
                    quality_check=check)
    monkeypatch.setitem(RECIPES, recipe.name, recipe)  # the registration line
    model = linked_model(tmp_path / "data" / "models" / "v1_0", model_file)
    assert recipe in wanted(model, fast=False, graph=False).recipes
    outcome = derived(model, fast=False, graph=False)
    entry = outcome.entry
    assert entry.facts["half-volume_quality"]["volume_ratio"] == pytest.approx(HALF, abs=1e-3)
    if kept:
        assert entry.applied == ["durations-output/1", "half-volume/1"] and not entry.dropped
        assert "the audio at half volume" in entry.reason
    else:  # dropped with its figures; the rest is still derived, bit-identical
        assert entry.applied == ["durations-output/1"] and "failed its quality check" in entry.dropped["half-volume/1"]
        assert "bit-identical" in entry.reason
    assert outcome.path is not None and DerivedStore(model.parent).read(entry.key, model).path == outcome.path


STEPS = 18  # matrix products of 1536 x 1536 per call: about 65 GFLOP, well over the model's own time


def slow_branch(model, context: RecipeContext) -> Applied:
    """A branch of large matrix products on the audio, added times zero: the same speech, much slower."""
    from onnx import helper, numpy_helper

    audio = model.graph.output[0].name
    for node in model.graph.node:
        node.output[:] = [f"{audio}_plain" if name == audio else name for name in node.output]
    size = 1536
    rng = np.random.default_rng(0)
    model.graph.initializer.extend([
        numpy_helper.from_array((rng.standard_normal((size, size)) / np.sqrt(size)).astype(np.float32), "slow_w"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "slow_zero")])
    nodes = [helper.make_node("ReduceMean", [f"{audio}_plain"], ["slow_mean"], keepdims=0, name="slow_mean"),
             helper.make_node("Mul", ["slow_w", "slow_mean"], ["slow_0"], name="slow_scale")]
    for i in range(STEPS):  # the input-dependent products: nothing to fold ahead of time
        nodes.append(helper.make_node("MatMul", [f"slow_{i}", "slow_w"], [f"slow_{i + 1}"], name=f"slow_matmul_{i}"))
    nodes += [helper.make_node("ReduceSum", ["slow_6"], ["slow_sum"], keepdims=0, name="slow_sum"),
              helper.make_node("Mul", ["slow_sum", "slow_zero"], ["slow_nothing"], name="slow_nothing"),
              helper.make_node("Add", [f"{audio}_plain", "slow_nothing"], [audio], name="slow_add")]
    model.graph.node.extend(nodes)
    return Applied(model, True, "a slow branch added")


def test_a_lossy_speed_recipe_that_is_slower_is_left_out_and_the_exact_ones_timed_again(
        tmp_path: Path, model_file: Path) -> None:
    """A file that is not faster loses its lossy speed recipes first; the exact speed recipes are timed
    again on their own and kept when they are faster (here: less than 1.5 times as slow as the model)."""
    def about_as_loud(reference, candidate, context: RecipeContext) -> tuple[bool, dict[str, float]]:
        ratio = volume_ratio(reference, candidate, context)  # the native kernels, if in too, move it a little
        return abs(ratio - 1.0) < 0.05, {"volume_ratio": ratio}

    recipe = Recipe(name="slow-branch", version=1, apply=slow_branch, purpose="speed", exact=False,
                    quality_check=about_as_loud)
    registered = dict(RECIPES)  # the registry's order is part of every derived file's key: restored as it was
    RECIPES.pop("native-generator", None)  # its runner replaces the graph's end
    RECIPES[recipe.name] = recipe
    try:
        model = linked_model(tmp_path / "data" / "models" / "v1_0", model_file)
        assert recipe in wanted(model, fast=True, graph=False).recipes
        entry = derived(model, fast=True, graph=False, max_ratio=1.5).entry
    finally:
        RECIPES.clear()
        RECIPES.update(registered)
    assert "not faster on this CPU" in entry.dropped.get("slow-branch/1", ""), (entry.applied, entry.dropped, entry.facts.get("ratio"))
    assert "lossless-int8-gemm/2" in entry.applied, (entry.applied, entry.dropped)
    assert entry.facts["ratio"] < 1.5
