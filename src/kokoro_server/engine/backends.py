"""The registered backends, in the order ``KOKORO_BACKEND=auto`` prefers them. Adding one: a module of
``engine/`` with its Backend class and a :class:`~kokoro_server.engine.base.BackendKind`, and one line here."""

from __future__ import annotations

from kokoro_server.engine import onnx_runtime, torch_kmodel
from kokoro_server.engine.base import BackendKind

BACKENDS: dict[str, BackendKind] = {kind.name: kind for kind in (onnx_runtime.BACKEND, torch_kmodel.BACKEND)}
AUTO = "auto"


def backend_for(weight_format: str) -> BackendKind:
    """The first registered backend that runs a weight format."""
    return next(kind for kind in BACKENDS.values() if weight_format in kind.formats)
