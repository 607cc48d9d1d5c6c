"""The PyTorch backend (kokoro.KModel) on CPU with the real approximate v1.0 weights from the assets.

The assets' ``kokoro-v1_0-dequant-fp16.pth`` (fp16, KModel's format) is linked in as
``models/v1_0/kokoro-v1_0.pth``. It is loaded with the network unreachable.
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from kokoro_server.builds import get_build
from kokoro_server.errors import BackendUnavailableError, FileProblemError
from kokoro_server.settings import Settings
from tests.support.audio import SAMPLE_RATE, assert_speech_like
from tests.support.checkpoints import SAMPLES_PER_FRAME, samples_per_frame
from tests.support.whisper import word_errors, words

TEXT = "The quick brown fox jumps over the lazy dog."


class NetworkBlocked:
    """HF_HUB_OFFLINE=1, and every name lookup or socket connect in this process fails (and is counted)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.attempts: list[object] = []
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")

        def refuse(sock: socket.socket, address: object) -> None:
            self.attempts.append(address)
            raise OSError("network is unreachable (blocked by the test)")

        monkeypatch.setattr(socket.socket, "connect", refuse)
        monkeypatch.setattr(socket.socket, "connect_ex", refuse)
        monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(None, address))
        monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: refuse(None, host))
        try:  # huggingface_hub reads HF_HUB_OFFLINE when first imported
            import huggingface_hub.constants as hub_constants

            monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
        except ImportError:
            pass


@pytest.fixture(scope="module")
def offline_v1(torch_data_dir: Path):
    """The v1.0 torch model, loaded (and used once) while the network is blocked."""
    from kokoro_server.service import SpeechService

    with pytest.MonkeyPatch.context() as monkeypatch:
        network = NetworkBlocked(monkeypatch)
        with pytest.raises(OSError):  # the block is real
            socket.create_connection(("huggingface.co", 443), timeout=1)
        network.attempts.clear()
        service = SpeechService(Settings(data_dir=torch_data_dir, threads=2, device="cpu"))
        loaded = service.models.get("v1_0")
        tokens = get_build("v1_0").tokenize(get_build("v1_0").make_phonemizer("a")(TEXT))
        pack = service.voices.load(loaded.build, "af_heart")
        output = loaded.backend.synthesize(tokens, pack[loaded.build.style_row(len(tokens))], 1.0)
        attempts = list(network.attempts)
    yield service, loaded, tokens, output, attempts
    service.close()


def test_loads_and_runs_with_the_network_unreachable(offline_v1) -> None:
    _, loaded, _, output, attempts = offline_v1
    assert attempts == []
    assert loaded.backend.name == "torch"
    assert loaded.location.path.name == "kokoro-v1_0.pth"
    assert "cpu" in loaded.backend.description and "float32" in loaded.backend.description
    assert output.audio.dtype == np.float32


def test_fp16_checkpoint_runs_in_float32(offline_v1) -> None:
    _, loaded, _, _, _ = offline_v1
    import torch

    model = loaded.backend._model
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_audio_is_speech_like_and_matches_predicted_durations(offline_v1) -> None:
    _, loaded, tokens, output, _ = offline_v1
    assert output.durations is not None
    assert output.durations.shape == (len(tokens) + 2,)  # one per token, pads included
    assert (output.durations >= 1).all()
    assert samples_per_frame(loaded.build.architecture) == SAMPLES_PER_FRAME
    assert output.audio.size == int(output.durations.sum()) * SAMPLES_PER_FRAME
    # 9 words: a natural reading takes roughly 2 to 4 seconds.
    assert_speech_like(output.audio, min_seconds=1.5, max_seconds=5.0)


def test_speed_shortens_the_audio(offline_v1) -> None:
    _, loaded, tokens, output, _ = offline_v1
    pack = offline_v1[0].voices.load(loaded.build, "af_heart")
    fast = loaded.backend.synthesize(tokens, pack[loaded.build.style_row(len(tokens))], 2.0)
    assert fast.audio.size == int(fast.durations.sum()) * SAMPLES_PER_FRAME
    assert 0.35 < fast.audio.size / output.audio.size < 0.65


def test_backend_choice_is_reported(offline_v1) -> None:
    service, _, _, _, _ = offline_v1
    status = service.models.status(get_build("v1_0"))
    assert status.loaded and status.backend == "torch"
    assert "KOKORO_BACKEND=auto" in status.selection and "kokoro-v1_0.pth" in status.selection
    assert status.description.startswith("torch ")


@pytest.mark.slow
def test_torch_v1_speech_is_intelligible(offline_v1, transcriber) -> None:
    _, _, _, output, _ = offline_v1
    heard = words(transcriber(output.audio))
    expected = words(TEXT)
    assert word_errors(expected, heard) <= 2, heard


def test_corrupt_checkpoint_names_the_file(tmp_path: Path) -> None:
    from kokoro_server.engine.torch_kmodel import TorchBackend

    bad = tmp_path / "kokoro-v1_0.pth"
    bad.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    with pytest.raises(FileProblemError) as caught:
        TorchBackend(get_build("v1_0"), bad, device="cpu")
    assert str(bad) in caught.value.message and "corrupt" in caught.value.message


def test_checkpoint_of_the_wrong_shape_is_refused(tmp_path: Path, assets: Path) -> None:
    """A checkpoint is loaded strictly: a missing component or a weight of another shape is refused
    (KModel's own loader would retry with strict=False and leave random weights in place)."""
    import torch

    from kokoro_server.engine.torch_kmodel import TorchBackend

    state = torch.load(assets / "models" / "v1_0" / "kokoro-v1_0-dequant-fp16.pth", weights_only=True)
    state["bert_encoder"]["weight"] = state["bert_encoder"]["weight"][:100]
    del state["decoder"]
    path = tmp_path / "kokoro-v1_0.pth"
    torch.save(state, path)
    with pytest.raises(FileProblemError) as caught:
        TorchBackend(get_build("v1_0"), path, device="cpu")
    assert "missing component(s) decoder" in caught.value.message and str(path) in caught.value.message
    state["decoder"] = {}
    torch.save(state, path)
    with pytest.raises(FileProblemError) as caught:
        TorchBackend(get_build("v1_0"), path, device="cpu")
    assert "bert_encoder" in caught.value.message and "another shape" in caught.value.message


def test_unavailable_device_is_a_clear_error() -> None:
    import torch

    from kokoro_server.engine.torch_kmodel import resolve_device

    assert resolve_device(torch, "cpu") == "cpu"
    assert resolve_device(torch, "auto") in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailableError, match="KOKORO_DEVICE=cuda"):
            resolve_device(torch, "cuda")
    with pytest.raises(BackendUnavailableError, match="unknown torch device"):
        resolve_device(torch, "tpu")


def test_the_block_would_catch_a_hub_download(monkeypatch: pytest.MonkeyPatch) -> None:
    """Control: KModel without a config tries the hub, and under the block that fails."""
    from kokoro import KModel

    NetworkBlocked(monkeypatch)
    with pytest.raises(Exception) as caught:
        KModel(repo_id="hexgrad/Kokoro-82M")
    assert "offline" in str(caught.value).lower() or isinstance(caught.value, OSError)
