"""The registered recipes, in the order they are applied. Adding one: a module beside these that
defines a :class:`~kokoro_server.engine.derived.recipes.base.Recipe`, and one line here."""

from __future__ import annotations

from kokoro_server.engine.derived.recipes import durations_output, lossless_int8_gemm
from kokoro_server.engine.derived.recipes.base import Applied, Recipe, RecipeContext

RECIPES: dict[str, Recipe] = {r.name: r for r in (durations_output.RECIPE, lossless_int8_gemm.RECIPE)}

__all__ = ["RECIPES", "Applied", "Recipe", "RecipeContext", "current_id"]


def current_id(name: str) -> str | None:
    """``name/version`` of the registered recipe ``name`` (None: not registered)."""
    recipe = RECIPES.get(name)
    return recipe.id if recipe is not None else None
