"""Which model file runs, and why: the one place that decides (the backend, `kokoro-server models`,
``/v1/models`` and the derivation all ask :func:`choose`).

For a source file in ``models/<version>/`` and the provider it runs on:

1. the base: a portable file an explicit command derived from it (`kokoro-server optimize`'s lossy
   recipe that passed its quality check; the newest that verifies) when ``KOKORO_USE_OPTIMIZED_MODEL``
   is on, else the source itself;
2. what is wanted on top: the registered automatic recipes that apply to the provider (the
   durations output always; the speed recipes with ``KOKORO_FAST_MODEL``), saved as onnxruntime's
   optimized graph for this CPU (``KOKORO_SAVE_OPTIMIZED_GRAPH``, providers that allow it);
3. that derived file if the store holds it for this CPU, provider and onnxruntime, verified; else
   the base as it is, with the durations output added in memory at load (nothing written), and the
   derived file still to make (``complete`` False: a server derives it in the background, `kokoro-
   server models --derive` ahead of time).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kokoro_server.cpus import cpu_kind
from kokoro_server.engine.derived.recipes import RECIPES, Recipe
from kokoro_server.engine.derived.store import ANY, DerivedStore, Entry, Key
from kokoro_server.engine.providers import PROVIDERS
from kokoro_server.settings import Settings


@dataclass(frozen=True)
class Wanted:
    """The derived file a source should run as, on one provider."""

    source: Path
    base: Path  # the source, or optimize's file made from it
    base_recipes: tuple[str, ...]  # the recipes the base holds (empty: the source)
    recipes: tuple[Recipe, ...]  # applied on top, in order
    graph: bool
    provider: str
    onnxruntime: str

    @property
    def key(self) -> Key:
        return Key(self.source.name, self.base_recipes + tuple(r.id for r in self.recipes), self.graph,
                   cpu_kind(), self.provider, self.onnxruntime)

    def describe(self) -> str:
        made = " + ".join(self.base_recipes + tuple(r.id for r in self.recipes)) or "nothing"
        return f"{made}{', saved as onnxruntime optimized graph for this CPU' if self.graph else ''}"


@dataclass(frozen=True)
class Selection:
    """The file that runs and why (logged at load, shown by `kokoro-server models` and /v1/models)."""

    path: Path  # what the backend opens
    optimized: bool  # onnxruntime's saved optimized graph: open it with optimizations off
    entry: Entry | None  # the derived file's manifest, when one runs
    wanted: Wanted
    reason: str
    complete: bool  # the wanted derived file runs: nothing is left to derive
    durations_in_memory: bool  # the durations output is added in memory (no derived file has it yet)

    @property
    def durations_problem(self) -> str | None:
        return self.entry.durations_problem if self.entry is not None else None


def portable_key(source: Path, recipes: tuple[str, ...]) -> Key:
    """The key of a portable file an explicit command derives (any CPU, provider and runtime)."""
    return Key(source.name, recipes, False, ANY, ANY, ANY)


def explicit_base(store: DerivedStore, source: Path) -> tuple[Path, tuple[str, ...]] | None:
    """The newest portable derived file of ``source`` that verifies (e.g. `kokoro-server optimize`'s)."""
    portable = sorted((e for _, e in store.entries() if e is not None and e.file and e.key.source == source.name
                       and (e.key.cpu, e.key.provider, e.key.onnxruntime) == (ANY, ANY, ANY) and not e.key.graph),
                      key=lambda e: e.created, reverse=True)
    for entry in portable:
        found = store.read(entry.key, source)
        if found.path is not None:
            return found.path, entry.key.recipes
    return None


def wanted_for(source: Path, settings: Settings, provider: str, onnxruntime: str) -> Wanted:
    store = DerivedStore(source.parent)
    base, base_recipes = source, ()
    if settings.use_optimized_model:
        base, base_recipes = explicit_base(store, source) or (source, ())
    recipes = tuple(r for r in RECIPES.values() if r.automatic and r.applies_to(provider)
                    and (r.purpose != "speed" or settings.fast_model) and (r.exact or not settings.exact_model))
    # a file some recipe runs itself (``Recipe.runner``) is opened part by part: never as one saved graph
    graph = settings.save_optimized_graph and PROVIDERS[provider].saves_graph and not any(r.runner for r in recipes)
    return Wanted(source, base, base_recipes, recipes, graph, provider, onnxruntime)


def choose(source: Path, settings: Settings, provider: str, onnxruntime: str) -> Selection:
    """The file that runs for ``source`` on ``provider`` now (nothing is derived or written here)."""
    wanted = wanted_for(source, settings, provider, onnxruntime)
    found = DerivedStore(source.parent).read(wanted.key, source)
    if found.path is not None and found.entry is not None:
        return Selection(found.path, wanted.graph, found.entry, wanted, found.entry.reason, True, False)
    base = "the file `kokoro-server optimize` made" if wanted.base_recipes else "the model file as installed"
    if found.entry is not None:  # recorded: nothing better could be made here
        return Selection(wanted.base, False, found.entry, wanted, f"{base}: {found.entry.reason}", True, False)
    why = f" ({found.problem})" if found.problem else ""
    return Selection(wanted.base, False, None, wanted,
                     f"{base} (its durations output added in memory when asked for); the derived file "
                     f"({wanted.describe()}) is not made yet{why}: a server derives it in the background, "
                     "`kokoro-server models --derive` now", False, True)
