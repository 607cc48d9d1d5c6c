"""The registered recipes, in the order they are applied. Adding one: a module beside these that
defines a :class:`~kokoro_server.engine.derived.recipes.base.Recipe`, and one line here.

A lossy recipe (``exact=False``) is selected by default only where it passes the quality bar on
this CPU (:func:`kokoro_server.engine.derived.quality.bar.verdict`: durations identical to the
shipped model's; log-mel distance to the float reference at most the shipped model's own + 0.15 dB
mean; no new Whisper errors; DNSMOS not lower): its ``available()`` says no unless the full bar
passed for this kind of CPU (recorded beside the recipe, with the bench command), and each
derivation judges the file it made again (durations and distance) and drops it when it fails.
Recipes that need the graph's int8 convs as exported come before ``lossless-int8-gemm``.
"""

from __future__ import annotations

from kokoro_server.engine.derived.recipes import calibrated_int8, durations_output, lossless_int8_gemm, native_generator
from kokoro_server.engine.derived.recipes.base import Applied, Recipe, RecipeContext

RECIPES: dict[str, Recipe] = {r.name: r for r in (
    durations_output.RECIPE,
    native_generator.RECIPE,
    calibrated_int8.RECIPE,
    lossless_int8_gemm.RECIPE,
)}

__all__ = ["RECIPES", "Applied", "Recipe", "RecipeContext", "current_id"]


def current_id(name: str) -> str | None:
    """``name/version`` of the registered recipe ``name`` (None: not registered)."""
    recipe = RECIPES.get(name)
    return recipe.id if recipe is not None else None
