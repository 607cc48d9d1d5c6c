"""The execution providers the ONNX backend can run on, chosen by name (``KOKORO_PROVIDERS``).

Adding one is a module beside these (an :class:`ExecutionProvider`) and one line in ``PROVIDERS``.
:func:`plan` turns the setting into the providers to try, in order, each with why it was passed
over; the backend then verifies the first one it opens (a session and a tiny inference on it) and
falls back to the CPU, saying why, if it does not work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kokoro_server.engine.providers import coreml, cpu, cuda, directml, openvino, tensorrt
from kokoro_server.engine.providers.base import ExecutionProvider

PROVIDERS: dict[str, ExecutionProvider] = {p.name: p for p in (
    cpu.PROVIDER, cuda.PROVIDER, tensorrt.PROVIDER, openvino.PROVIDER, coreml.PROVIDER, directml.PROVIDER)}
CPU = cpu.PROVIDER
AUTO = "auto"

__all__ = ["AUTO", "CPU", "PROVIDERS", "ExecutionProvider", "ProviderPlan", "plan"]


@dataclass(frozen=True)
class ProviderPlan:
    """The providers to try in order (the CPU last) and why any asked for was passed over."""

    candidates: tuple[ExecutionProvider, ...]
    passed_over: tuple[str, ...] = field(default=())


def plan(requested: Sequence[str], ort: object) -> ProviderPlan:
    """``KOKORO_PROVIDERS`` (names in order of preference; ``auto``: the automatic providers that are
    available, e.g. CUDA with onnxruntime-gpu) -> what to try. Unknown names raise ValueError."""
    names = [n.strip().lower() for n in requested if n.strip()] or [AUTO]
    unknown = [n for n in names if n != AUTO and n not in PROVIDERS]
    if unknown:
        raise ValueError(f"unknown execution provider(s) {', '.join(unknown)} in KOKORO_PROVIDERS; known: "
                         f"{', '.join([AUTO, *PROVIDERS])}")
    chosen: list[ExecutionProvider] = []
    passed: list[str] = []
    for name in names:
        if name == CPU.name:  # the CPU is always last: names after it are never reached
            break
        wanted = [p for p in PROVIDERS.values() if p.automatic] if name == AUTO else [PROVIDERS[name]]
        for provider in wanted:
            if provider in chosen:
                continue
            if provider.available(ort):
                chosen.append(provider)
            elif name != AUTO:
                passed.append(f"{provider.name}: this onnxruntime has no {provider.ort_name} "
                              f"(install {provider.package})")
    return ProviderPlan(tuple(chosen) + (CPU,), tuple(passed))
