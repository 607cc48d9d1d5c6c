"""PyTorch backend: the ``kokoro`` package's ``KModel`` on cpu, cuda or mps.

``torch`` and ``kokoro`` are imported only here, when this backend loads. The model is built from
the build's architecture config (a dict, never a hub id) and an empty weight stream, then the
build's own checkpoint reader fills it strictly from the local ``.pth``: ``KModel`` is never given
anything it could download, and a checkpoint that does not fit the architecture is refused with
the file's name instead of loading half-initialised.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from kokoro_server.builds.base import Build
from kokoro_server.engine.base import BackendKind, OpenRequest, RunInfo, SynthesisOutput
from kokoro_server.errors import BackendUnavailableError, FileProblemError

COMPONENTS = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(torch: Any, requested: str) -> str:
    """``auto`` -> cuda, else mps, else cpu; an explicit device must be available."""
    requested = (requested or "auto").lower()
    if requested not in DEVICES:
        raise BackendUnavailableError(f"unknown torch device {requested!r} (KOKORO_DEVICE): use one of "
                                      f"{', '.join(DEVICES)}")
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if requested == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if (requested == "cuda" and not cuda) or (requested == "mps" and not mps):
        raise BackendUnavailableError(f"KOKORO_DEVICE={requested} but this torch build "
                                      f"({torch.__version__}) has no usable {requested} device; "
                                      "use KOKORO_DEVICE=auto or cpu")
    return requested


def _import_torch() -> tuple[Any, Any]:
    try:
        import torch
        from kokoro import KModel
    except ImportError as exc:
        raise BackendUnavailableError(f"the PyTorch backend needs torch and kokoro ({exc.name} is missing): "
                                      "pip install 'kokoro-server[torch]'") from exc
    return torch, KModel


def build_kmodel(build: Build, *, disable_complex: bool = False) -> Any:
    """``kokoro.KModel`` for this build's architecture, freshly initialised, with no weights loaded.

    ``disable_complex`` selects KModel's real-valued STFT (what an ONNX export needs).

    The config goes in as a dict and the weights as an empty in-memory checkpoint, so KModel has
    nothing to fetch from a hub (it downloads only when either is missing).
    """
    torch, KModel = _import_torch()
    empty = io.BytesIO()
    torch.save({}, empty)
    empty.seek(0)
    with warnings.catch_warnings():  # torch's deprecation notes about KModel's layers
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        return KModel(repo_id="hexgrad/Kokoro-82M", config=dict(build.architecture), model=empty,
                      disable_complex=disable_complex)


def read_state(build: Build, path: Path) -> dict[str, Mapping[str, Any]]:
    """The build's checkpoint as ``{component: state_dict}``; unreadable or foreign files are refused."""
    fix = f"replace it with a {build.title} checkpoint"
    try:
        state = build.load_checkpoint(path)
    except PermissionError as exc:
        raise FileProblemError("model file is not readable (permission denied)", file=path,
                               fix=f"chmod a+r {path}") from exc
    except FileNotFoundError as exc:
        raise FileProblemError("model file is missing", file=path, fix=fix) from exc
    except Exception as exc:  # torch.load raises RuntimeError, UnpicklingError, EOFError, ...
        raise FileProblemError(f"model file cannot be loaded, it is corrupt or not a PyTorch checkpoint "
                               f"({type(exc).__name__})", file=path, fix=fix) from exc
    if not isinstance(state, Mapping) or not all(isinstance(v, Mapping) for v in state.values()):
        raise FileProblemError("model file is not a Kokoro checkpoint (expected a state dict per component)",
                               file=path, fix=fix)
    missing = [c for c in COMPONENTS if c not in state]
    unknown = [c for c in state if c not in COMPONENTS]
    if missing or unknown:
        detail = "; ".join(part for part in (
            f"missing component(s) {', '.join(missing)}" if missing else "",
            f"unknown component(s) {', '.join(map(str, unknown))}" if unknown else "") if part)
        raise FileProblemError(f"model file does not fit {build.title} ({detail})", file=path, fix=fix)
    return dict(state)


def fill_model(model: Any, state: Mapping[str, Mapping[str, Any]], build: Build, path: Path) -> None:
    """Load every component strictly; name the first keys or shapes that do not fit."""
    for component in COMPONENTS:
        module = getattr(model, component)
        expected = module.state_dict()
        given = state[component]
        problems = []
        missing = [k for k in expected if k not in given]
        unexpected = [k for k in given if k not in expected]
        shapes = [k for k in expected if k in given and tuple(given[k].shape) != tuple(expected[k].shape)]
        if missing:
            problems.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if shapes:
            k = shapes[0]
            problems.append(f"{len(shapes)} of another shape (e.g. {k}: {list(given[k].shape)} "
                            f"!= {list(expected[k].shape)})")
        if problems:
            raise FileProblemError(f"model file does not fit {build.title}: {component} has "
                                   f"{', '.join(problems)} weights", file=path,
                                   fix=f"use a checkpoint made for {build.title}")
        module.load_state_dict(given, strict=True)  # casts e.g. float16 weights to the model's float32


class TorchBackend:
    name = "torch"
    durations_problem = None  # KModel returns the predicted durations with the audio

    def __init__(self, build: Build, path: Path, *, device: str = "auto", threads: int = 0,
                 half: bool = False) -> None:
        torch, _ = _import_torch()
        self._torch = torch
        self.device = resolve_device(torch, device)
        self.half = bool(half) and self.device == "cuda"  # float16 only where it pays and is safe
        if threads:
            torch.set_num_threads(threads)
        state = read_state(build, path)
        model = build_kmodel(build)
        fill_model(model, state, build, path)
        del state
        self._model = model.eval().to(self.device)
        precision = "float16 autocast" if self.half else "float32"
        self._path = path
        self.description = (f"torch {torch.__version__} {self.device} {precision}, "
                            f"{torch.get_num_threads()} threads, {path.name}")

    def run_info(self) -> RunInfo:
        return RunInfo(str(self._path), "the PyTorch checkpoint as installed", self.device)

    def synthesize(self, tokens: Sequence[int], style: np.ndarray, speed: float) -> SynthesisOutput:
        torch = self._torch
        ids = torch.tensor([[0, *tokens, 0]], dtype=torch.long, device=self.device)
        ref_s = torch.from_numpy(np.array(style, dtype=np.float32).reshape(1, -1)).to(self.device)
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.half else nullcontext()
        with torch.inference_mode(), autocast:
            audio, durations = self._model.forward_with_tokens(ids, ref_s, float(speed))
        return SynthesisOutput(audio=audio.float().cpu().numpy().reshape(-1),
                               durations=durations.cpu().numpy().reshape(-1).astype(np.int64))

    def streaming(self) -> nullcontext[None]:
        return nullcontext()

    def close(self) -> None:
        self._model = None
        if self.device == "cuda":
            self._torch.cuda.empty_cache()


def torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None and importlib.util.find_spec("kokoro") is not None


def _open(request: OpenRequest) -> TorchBackend:
    settings = request.settings
    return TorchBackend(request.build, request.location.path, device=settings.device, threads=settings.threads,
                        half=settings.torch_half)


def _preview(request: OpenRequest) -> RunInfo:
    return RunInfo(str(request.location.path), "the PyTorch checkpoint as installed", request.settings.device)


BACKEND = BackendKind(name="torch", title="PyTorch", formats=("pth",), available=torch_available,
                      missing="torch and kokoro are not installed", install="pip install 'kokoro-server[torch]'",
                      open=_open, preview=_preview)
