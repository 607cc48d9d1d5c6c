"""Execution providers by name (KOKORO_PROVIDERS): what is not installed, or is installed but does not
work, falls back to the CPU after a real check (a session and an inference), and says why where
users look (`kokoro-server models`, the model status behind /v1/models and /ready)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from kokoro_server.builds import get_build
from kokoro_server.cli import main
from kokoro_server.engine.onnx_runtime import OnnxBackend
from kokoro_server.engine.ort import import_onnxruntime
from kokoro_server.engine.providers import CPU, PROVIDERS, ExecutionProvider, plan
from kokoro_server.errors import BackendUnavailableError
from kokoro_server.service import SpeechRequest, SpeechService
from kokoro_server.settings import Settings

V1 = get_build("v1_0")


@dataclass(frozen=True)
class ListedButBroken(ExecutionProvider):
    """A provider onnxruntime lists but cannot start (as CUDA's does when its libraries are missing):
    only the listing is pretended; onnxruntime's own handling of it is real."""

    def available(self, ort: object) -> bool:
        return True


def test_the_plan_follows_the_setting() -> None:
    ort = import_onnxruntime()
    assert plan(["auto"], ort).candidates == (CPU,)  # no GPU package here
    cuda = plan(["cuda"], ort)
    assert cuda.candidates == (CPU,) and "CUDAExecutionProvider" in cuda.passed_over[0]
    assert "install onnxruntime-gpu" in cuda.passed_over[0]
    assert plan(["cpu", "cuda"], ort) == plan(["cpu"], ort)  # the CPU is last: names after it are never tried
    with pytest.raises(ValueError, match="unknown execution provider.*nvidia.*known: auto, cpu, cuda"):
        plan(["nvidia"], ort)


def test_a_missing_provider_falls_back_to_the_cpu_and_says_why(data_dir: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=data_dir, threads=1, providers=["cuda"])
    service = SpeechService(settings)
    try:
        assert service.synthesize(SpeechRequest(text="Hello.", voice="af_heart")).size > 12_000
        status = service.models.status(V1)
        assert status.device == "cpu" and "onnxruntime-gpu" in status.fallback
        assert "CPU (fallback: cuda" in status.description
    finally:
        service.close()
    monkeypatch.setenv("KOKORO_PROVIDERS", "cuda")
    assert main(["--data-dir", str(data_dir), "models", "-m", "v1_0"]) == 0
    out = capsys.readouterr().out
    assert "device: cpu (fallback: cuda: this onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu))" \
        in out, out
    unknown = SpeechService(Settings(data_dir=data_dir, providers=["nvidia"]))
    with pytest.raises(BackendUnavailableError, match="nvidia"):
        unknown.models.get("v1_0")


def test_a_provider_that_does_not_start_is_checked_and_replaced(model_file: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    broken = ListedButBroken(name="broken", ort_name="CUDAExecutionProvider", package="onnxruntime-gpu")
    monkeypatch.setitem(PROVIDERS, "broken", broken)  # registered as a module's line would
    backend = OnnxBackend(model_file, providers=plan(["broken"], import_onnxruntime()), threads=1)
    try:
        assert backend.provider is CPU and backend.provider_problem.startswith("broken: RuntimeError: onnxruntime "
                                                                                "did not register it")
        assert backend.run_info().fallback == backend.provider_problem
    finally:
        backend.close()


def test_a_registered_provider_that_works_is_used(model_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """onnxruntime's CPU wheel carries one more provider, Azure's (remote models; local nodes stay on the
    CPU): registering it is one line, and the check (session, inference) lets it through."""
    azure = ExecutionProvider(name="azure", ort_name="AzureExecutionProvider", package="onnxruntime")
    monkeypatch.setitem(PROVIDERS, "azure", azure)
    backend = OnnxBackend(model_file, providers=plan(["azure"], import_onnxruntime()), threads=1)
    try:
        assert backend.provider is azure and backend.provider_problem is None
        assert "AZURE" in backend.description and backend.run_info().device == "azure"
    finally:
        backend.close()
