"""What an onnxruntime execution provider is to kokoro-server: a name users pick it by, the name
onnxruntime knows it under, the package that brings it, and the options its sessions get."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ExecutionProvider:
    """One execution provider (one module each in ``engine/providers/``, registered in its ``__init__``)."""

    name: str  # what KOKORO_PROVIDERS names it by: "cpu", "cuda", ...
    ort_name: str  # onnxruntime's name: "CPUExecutionProvider", ...
    package: str  # the onnxruntime package that brings it, for the "not available" message
    options: Mapping[str, str] = field(default_factory=dict)  # provider options for its sessions
    automatic: bool = False  # tried by KOKORO_PROVIDERS=auto (before the CPU) when available
    saves_graph: bool = False  # onnxruntime's optimized graph of a session on it may be saved and reloaded
    note: str = ""  # shown with it (e.g. "builds an engine at first start: minutes")

    def available(self, ort: object) -> bool:
        """Whether this onnxruntime build has the provider (it may still fail to start: verified later)."""
        return self.ort_name in ort.get_available_providers()  # type: ignore[attr-defined]

    def session_providers(self) -> list[tuple[str, dict[str, str]]]:
        """The ``providers`` argument of an ``InferenceSession`` on it (the CPU after it, for the nodes
        it does not take)."""
        chosen = [(self.ort_name, dict(self.options))]
        return chosen if self.ort_name == "CPUExecutionProvider" else chosen + [("CPUExecutionProvider", {})]
