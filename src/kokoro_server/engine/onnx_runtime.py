"""ONNX Runtime backend, on the execution provider configured (``KOKORO_PROVIDERS``, the CPU by default).

The backend holds a small pool of sessions; each runs one synthesis at a time, so up to
``sessions`` calls run in parallel and the rest wait for a free session. On a CPU, two 1-thread
sessions serving two requests at once deliver more audio per second than one 2-thread session
taking them in turn, while a lone request is fastest on one session with every core (see
``bench/concurrency.py``). So with an automatic layout (:func:`session_layout`) the backend also
holds a *wide* session with every core: a call made while no other stream is live runs on it,
calls made while several streams are live run on the narrow pool.

What file it runs is decided elsewhere (:mod:`kokoro_server.engine.derived.select`); the backend
opens it on the first provider that works (a session and a tiny inference: a provider that is
installed but fails falls back to the next, the CPU last, and the reason is kept in
``provider_problem``), and can switch to another file between calls (:meth:`OnnxBackend.switch_to`:
a derived file taking over from the model as installed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from kokoro_server.cpus import usable_cores
from kokoro_server.engine.base import FRAME_SAMPLES, BackendKind, OpenRequest, RunInfo, SynthesisOutput
from kokoro_server.engine.derived.recipes import RECIPES, RecipeContext
from kokoro_server.engine.derived.recipes.durations_output import OUTPUT as DURATIONS_OUTPUT
from kokoro_server.engine.derived.recipes.durations_output import add_durations_output
from kokoro_server.engine.derived.select import Selection, choose
from kokoro_server.engine.ort import import_onnxruntime, open_model, open_session
from kokoro_server.engine.pool import SessionPool
from kokoro_server.engine.providers import CPU, ExecutionProvider, ProviderPlan
from kokoro_server.engine.providers import plan as provider_plan
from kokoro_server.errors import BackendUnavailableError, FileProblemError
from kokoro_server.settings import Settings

log = logging.getLogger("kokoro_server.engine")

PROBE_TOKENS = tuple(range(43, 55))  # a tiny inference that proves a provider works (ids in every vocabulary)


@dataclass(frozen=True)
class ModelFile:
    """What the backend opens: a file, or its bytes (e.g. with the durations output added in memory)."""

    path: Path  # the file (named in descriptions and errors)
    data: bytes | None = None  # opened instead of the file when given
    optimized: bool = False  # onnxruntime's saved optimized graph: open it with optimizations off
    durations_problem: str | None = None  # why it has no durations output, when known
    durations_on_demand: bool = False  # the durations output is added in memory when first asked for
    runner: Callable[[Path | bytes, Callable[[bytes], Any], int], Any] | None = None  # a recipe that runs the file
    # itself (``Recipe.runner``, e.g. the native vocoder kernels); None: onnxruntime runs it

    @property
    def source(self) -> Path | bytes:
        return self.data if self.data is not None else self.path


@dataclass(frozen=True)
class SessionLayout:
    sessions: int  # narrow sessions, one synthesis each at a time
    threads: int  # intra-op threads of each narrow session
    wide_threads: int = 0  # threads of the wide session for a lone stream (0: none)


def session_layout(sessions: int, threads: int, concurrency: int, cores: int | None = None) -> SessionLayout:
    """The session layout for the settings, 0 meaning auto.

    Auto sessions: one per synthesis the server admits at once (``concurrency``), at most one per
    core; auto threads: the cores shared out among the sessions. When both are auto and there is
    more than one narrow session, a wide session with every core serves a lone stream.
    """
    cores = cores or usable_cores()
    auto = not sessions and not threads
    sessions = sessions or max(1, min(concurrency, cores))
    threads = threads or max(1, cores // sessions)
    wide = cores if auto and sessions > 1 and threads < cores else 0
    return SessionLayout(sessions, threads, wide)


@dataclass
class _Running:
    """One model file's open sessions, swapped as a whole when another file takes over."""

    model: ModelFile
    wide: Any | None  # the wide session (None: no wide layout)
    pool: SessionPool[Any] | None  # the narrow sessions (None until streams first overlap, with a wide one)
    outputs: list[str]
    token_input: str
    speed_dtype: type
    durations_problem: str | None


class OnnxBackend:
    name = "onnx"

    def __init__(self, model: Path | ModelFile, *, providers: ProviderPlan | None = None, sessions: int = 1,
                 threads: int = 0, wide_threads: int = 0, fix_hint: str = "") -> None:
        self._ort = import_onnxruntime()
        model = model if isinstance(model, ModelFile) else ModelFile(model)
        self._fix_hint = fix_hint
        self.threads = threads or usable_cores()
        self._wide_threads = wide_threads if wide_threads > self.threads else 0
        self._shared_cores = sessions > 1 or bool(self._wide_threads)  # several sessions may run at once
        self.sessions = max(1, sessions)
        self._pool_lock = threading.Lock()
        self._switch_lock = threading.Lock()
        self._closed = False
        self.provider, self.provider_problem, first = self._first_session(model, providers or ProviderPlan((CPU,)))
        self._running = self._running_from(model, first)
        self._state_lock = threading.Lock()
        self._streams = 0  # streams inside streaming()
        self._calls = 0  # calls inside synthesize()
        self.calls_on = {"wide": 0, "narrow": 0}  # calls served by each kind of session so far
        self.store_link: StoreLink | None = None  # set when a build's model was opened through the store

    # -- opening -------------------------------------------------------------------------------
    def _open(self, model: ModelFile, threads: int, provider: ExecutionProvider | None = None) -> Any:
        try:
            return open_model(self._ort, model.source, provider or self.provider, threads=threads,
                              optimize=not model.optimized, shared_cores=self._shared_cores, runner=model.runner)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise FileProblemError(f"model file cannot be loaded, it is corrupt or not an ONNX model "
                                   f"({type(exc).__name__})", file=model.path,
                                   fix=self._fix_hint or "replace the file") from exc

    def _first_session(self, model: ModelFile, plan: ProviderPlan) -> tuple[ExecutionProvider, str | None, Any]:
        """The first session, on the first provider of ``plan`` that opens the model and runs it."""
        problems = list(plan.passed_over)
        threads = self._wide_threads or self.threads
        for provider in plan.candidates:
            if provider is CPU:
                break
            try:
                session = open_session(self._ort, model.source, provider, threads=threads,
                                       optimize=not model.optimized, shared_cores=self._shared_cores)
                active = session.get_providers()
                if not active or active[0] != provider.ort_name:
                    raise RuntimeError(f"onnxruntime did not register it (active: {', '.join(active)})")
                self._probe(session)
            except Exception as exc:  # any failure of a provider sends us to the next one
                problems.append(f"{provider.name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
                log.warning("%s: the %s execution provider does not work here (%s); trying the next one",
                            model.path.name, provider.name, problems[-1])
                continue
            log.info("%s: runs on the %s execution provider (verified: a session and an inference)",
                     model.path.name, provider.name)
            return provider, "; ".join(problems) or None, session
        problem = "; ".join(problems) or None
        if problem:
            log.warning("%s: running on the CPU (%s)", model.path.name, problem)
        return CPU, problem, self._open(model, threads, CPU)

    @staticmethod
    def _probe(session: Any) -> None:
        inputs = {i.name: i for i in session.get_inputs()}
        token_input = "tokens" if "tokens" in inputs else "input_ids"
        speed_dtype = np.int32 if "int" in inputs["speed"].type else np.float32
        audio = session.run([session.get_outputs()[0].name],
                            {token_input: np.array([[0, *PROBE_TOKENS, 0]], dtype=np.int64),
                             "style": np.zeros((1, 256), dtype=np.float32),
                             "speed": np.array([1], dtype=speed_dtype)})[0]
        if not np.isfinite(audio).all() or audio.size < FRAME_SAMPLES:
            raise RuntimeError("its audio is not finite or empty")

    def _running_from(self, model: ModelFile, first: Any) -> _Running:
        inputs = {i.name: i for i in first.get_inputs()}
        token_input = "tokens" if "tokens" in inputs else "input_ids"
        if token_input not in inputs or "style" not in inputs or "speed" not in inputs:
            raise FileProblemError(f"ONNX model has unexpected inputs {sorted(inputs)} "
                                   "(expected tokens, style, speed)", file=model.path,
                                   fix=self._fix_hint or "use a Kokoro ONNX export")
        outputs = [o.name for o in first.get_outputs()]
        has_durations = DURATIONS_OUTPUT in outputs[1:]
        durations_problem = None if has_durations else (
            model.durations_problem or f"{model.path.name} has no {DURATIONS_OUTPUT} output")
        # With a wide session the narrow ones are opened when two streams first overlap: a server
        # that never serves two at once keeps the memory of one session.
        pool = None if self._wide_threads else SessionPool(
            [first] + [self._open(model, self.threads) for _ in range(self.sessions - 1)], name=model.path.name)
        return _Running(model, first if self._wide_threads else None, pool,
                        [outputs[0]] + ([DURATIONS_OUTPUT] if has_durations else []), token_input,
                        np.int32 if "int" in inputs["speed"].type else np.float32, durations_problem)

    @property
    def model(self) -> ModelFile:
        return self._running.model

    @property
    def closed(self) -> bool:
        return self._closed

    def run_info(self) -> RunInfo:
        model = self._running.model
        why = self.store_link.selection.reason if self.store_link is not None else "the file as given"
        return RunInfo(str(model.path), why, self.provider.name, self.provider_problem)

    @property
    def durations_problem(self) -> str | None:
        """Why synthesize() gives no durations (None: it does). A file whose durations output is added
        on demand gets it now (about a second: the graph edited in memory, its sessions opened again),
        so that a process that never asks for timestamps never pays for it."""
        running = self._running
        if running.model.durations_on_demand and running.durations_problem is not None:
            with self._switch_lock:
                if self._running is running and not self._closed:
                    data, problem = durations_in_memory(running.model.path)
                    model = ModelFile(running.model.path, data, False, problem)
                    if data is None:
                        self._running = replace(running, model=model, durations_problem=problem or
                                                f"{model.path.name} has no {DURATIONS_OUTPUT} output")
                    else:
                        self._switch(model)
            running = self._running
        return running.durations_problem

    @property
    def description(self) -> str:
        running = self._running
        layout = f"{self.sessions} session(s) x {self.threads} thread(s)"
        if self._wide_threads:
            layout = f"1 session x {self._wide_threads} thread(s) for a lone stream, {layout} when streams overlap"
        provider = self.provider.name.upper() + (f" (fallback: {self.provider_problem})" if self.provider_problem else "")
        return (f"onnxruntime {self._ort.__version__} {provider}, {layout}, {running.model.path.name}"
                f"{' with durations' if running.durations_problem is None else ''}"
                f"{', optimized graph loaded' if running.model.optimized else ''}")

    def switch_to(self, model: ModelFile) -> None:
        """Run ``model`` from the next call on (calls in progress finish on the sessions they have)."""
        with self._switch_lock:
            self._switch(model)

    def _switch(self, model: ModelFile) -> None:
        if self._closed:
            return
        first = self._open(model, self._wide_threads or self.threads)
        running = self._running_from(model, first)
        with self._pool_lock:
            if not self._closed:
                self._running = running

    def _narrow_pool(self, running: _Running) -> SessionPool[Any]:
        with self._pool_lock:
            if running.pool is None:
                if self._closed:
                    raise BackendUnavailableError(f"the model {running.model.path.name} was unloaded")
                running.pool = SessionPool([self._open(running.model, self.threads) for _ in range(self.sessions)],
                                           name=running.model.path.name)
                log.info("%s: opened %d session(s) x %d thread(s) for overlapping streams",
                         running.model.path.name, self.sessions, self.threads)
            return running.pool

    # -- running -------------------------------------------------------------------------------
    @contextmanager
    def streaming(self) -> Iterator[None]:
        """Marks one stream live for its whole length (between its calls too), so that a call picks
        the wide session only while it is the one stream."""
        with self._state_lock:
            self._streams += 1
        try:
            yield
        finally:
            with self._state_lock:
                self._streams -= 1

    def synthesize(self, tokens: Sequence[int], style: np.ndarray, speed: float) -> SynthesisOutput:
        running = self._running
        ids = np.array([[0, *tokens, 0]], dtype=np.int64)
        feeds = {running.token_input: ids, "style": np.asarray(style, dtype=np.float32).reshape(1, -1),
                 "speed": np.array([speed], dtype=running.speed_dtype)}
        with self._state_lock:
            self._calls += 1
            alone = self._calls == 1 and self._streams <= 1
        try:
            outputs = self._run(running, feeds, alone)
        finally:
            with self._state_lock:
                self._calls -= 1
        audio = np.asarray(outputs[0], dtype=np.float32).reshape(-1)
        durations = np.asarray(outputs[1]).reshape(-1).astype(np.int64) if len(outputs) > 1 else None
        if durations is not None and (durations.size != len(tokens) + 2
                                      or int(durations.sum()) * FRAME_SAMPLES != audio.size):
            log.warning("%s: durations (%d frames for %d tokens) do not match the audio (%d samples); "
                        "dropped", running.model.path.name, int(durations.sum()), len(tokens), audio.size)
            durations = None
        return SynthesisOutput(audio=audio, durations=durations)

    def _run(self, running: _Running, feeds: dict[str, np.ndarray], alone: bool) -> list[Any]:
        wide = running.wide
        if alone and wide is not None:  # alone: the only call in progress, so the wide session is free
            self.calls_on["wide"] += 1
            return wide.run(running.outputs, feeds)
        with self._narrow_pool(running).use() as session:
            with self._state_lock:
                self.calls_on["narrow"] += 1
            return session.run(running.outputs, feeds)

    def close(self) -> None:
        """Release the sessions; calls in progress finish, later ones fail."""
        with self._pool_lock:
            self._closed = True
            running = self._running
            running.wide = None
            if running.pool is not None:
                running.pool.close()


# -- opening a build's model: the file chosen, the provider verified, the faster file derived -----
def model_file(selection: Selection) -> ModelFile:
    """What the backend opens for a selection: the derived file as it is, or the base file, whose
    durations output is added in memory when first asked for (nothing is written)."""
    if not selection.durations_in_memory:
        applied = selection.entry.applied if selection.entry is not None and selection.entry.file else []
        runner = next((recipe.runner for rid in applied if (recipe := RECIPES.get(rid.split("/", 1)[0])) is not None
                       and recipe.runner is not None), None)
        return ModelFile(selection.path, None, selection.optimized, selection.durations_problem, runner=runner)
    return ModelFile(selection.path, durations_on_demand=True)


def durations_in_memory(path: Path) -> tuple[bytes | None, str | None]:
    """``path``'s graph with the durations output, serialized (None: run the file as it is, with the
    reason it has no durations, if known). A file that does not parse is left to the session to report."""
    try:
        import onnx
    except ImportError:
        return None, "adding the durations output needs the onnx package (pip install onnx)"
    try:
        model = onnx.load(str(path))
    except Exception:  # protobuf's DecodeError, OSError: the session names the file and the fix
        return None, None
    applied = add_durations_output(model, RecipeContext(path, CPU.name))
    if applied.problem is not None or not applied.changed:
        return None, applied.problem
    return applied.model.SerializeToString(), None


class StoreLink:
    """A loaded ONNX model's link to the store: re-choose after a derivation, switch, report."""

    def __init__(self, backend: OnnxBackend, request: OpenRequest, selection: Selection, ort_version: str) -> None:
        self.backend = backend
        self.request = request
        self.selection = selection
        self.ort_version = ort_version

    def derive_in_background(self) -> None:
        request, selection = self.request, self.selection
        settings, version = request.settings, request.build.version
        if selection.complete or request.derivations is None or settings.derive != "background":
            return
        args = ["--provider", self.backend.provider.name, "--threads", "1",
                "--fast-model", str(settings.fast_model).lower(),
                "--use-optimized-model", str(settings.use_optimized_model).lower(),
                "--exact-model", str(settings.exact_model).lower(),
                "--save-optimized-graph", str(settings.save_optimized_graph).lower()]
        what = selection.wanted.describe()
        if request.derivations.start(version, selection.wanted.source, what, args, self._derived):
            log.info("%s: serving with %s as installed; deriving a faster file for this CPU in the background "
                     "(%s, at low priority); it takes over when it is ready", version, selection.path.name, what)

    def _derived(self, result: dict[str, object] | None, problem: str | None) -> None:
        version = self.request.build.version
        if problem is not None:
            log.warning("%s: the background derivation failed (%s); %s stays in use", version, problem,
                        self.selection.path.name)
            return
        new = choose(self.selection.wanted.source, self.request.settings, self.backend.provider.name,
                     self.ort_version)
        if self.backend.closed:  # unloaded meanwhile: the next load runs the derived file
            return
        if new.entry is None or new.entry.file is None or new.path == self.backend.model.path:
            log.info("%s: derivation finished (%s); %s stays in use", version, new.reason,
                     self.backend.model.path.name)
            return
        self.backend.switch_to(model_file(new))
        self.selection = new
        seconds = result.get("seconds") if result else None
        log.info("%s: the derived file %s takes over from now (derived in %s s): %s", version, new.path.name,
                 seconds, new.reason)


def _open(request: OpenRequest) -> OnnxBackend:
    settings = request.settings
    ort = import_onnxruntime()
    plan = _plan(settings, ort)
    layout = session_layout(settings.sessions, settings.threads, settings.concurrency)
    source = request.location.path
    selection = choose(source, settings, plan.candidates[0].name, ort.__version__)
    backend = OnnxBackend(model_file(selection), providers=plan, sessions=layout.sessions, threads=layout.threads,
                          wide_threads=layout.wide_threads, fix_hint=request.fix_hint)
    if backend.provider.name != plan.candidates[0].name:  # fell back: the file for that provider is not ours
        fallback = choose(source, settings, backend.provider.name, ort.__version__)
        if fallback.path != selection.path or fallback.durations_in_memory != selection.durations_in_memory:
            backend.switch_to(model_file(fallback))
        selection = fallback
    link = StoreLink(backend, request, selection, ort.__version__)
    backend.store_link = link
    log.info("%s: runs %s: %s", request.build.version, selection.path.name, selection.reason)
    link.derive_in_background()
    return backend


def _plan(settings: Settings, ort: Any) -> ProviderPlan:
    try:
        return provider_plan(settings.providers, ort)
    except ValueError as exc:
        raise BackendUnavailableError(str(exc)) from None


def _preview(request: OpenRequest) -> RunInfo:
    ort = import_onnxruntime()
    plan = _plan(request.settings, ort)
    provider = plan.candidates[0]
    selection = choose(request.location.path, request.settings, provider.name, ort.__version__)
    unverified = "" if provider is CPU else " (verified when the model loads)"
    return RunInfo(str(selection.path), selection.reason, provider.name + unverified,
                   "; ".join(plan.passed_over) or None)


def _derive_ahead(request: OpenRequest, progress: Callable[[str], None]) -> str:
    """`kokoro-server models --derive`: the derived file for the first provider of the plan, now,
    with every core (for container images and before a first start)."""
    from kokoro_server.engine.derived.derive import derive
    from kokoro_server.engine.derived.select import wanted_for

    ort = import_onnxruntime()
    provider = _plan(request.settings, ort).candidates[0]
    wanted = wanted_for(request.location.path, request.settings, provider.name, ort.__version__)
    outcome = derive(wanted, provider, threads=request.settings.threads or usable_cores(), progress=progress)
    entry = outcome.entry
    done = f"derived in {outcome.seconds:.1f} s" if outcome.made else "already derived"
    dropped = "".join(f"; left out {rid}: {why}" for rid, why in entry.dropped.items())
    where = outcome.path or request.location.path
    return f"{done}: {where} runs from now on ({entry.reason}{dropped})"


BACKEND = BackendKind(name="onnx", title="ONNX Runtime", formats=("onnx",), available=lambda: True,
                      missing="onnxruntime is not installed", install="pip install onnxruntime", open=_open,
                      preview=_preview, derive=_derive_ahead)
