"""The v0.19 build end to end, with a seeded random-weight checkpoint saved in v0.19's format
(no v0.19 weights can be downloaded here) and the real v0.19 voice packs from the assets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kokoro_server.builds import get_build
from kokoro_server.builds.v0_19 import kmodel_config, load_checkpoint
from kokoro_server.builds.v0_19.vocab import SYMBOLS, VOCAB
from kokoro_server.service import SpeechRequest, SpeechService
from kokoro_server.settings import Settings
from tests.conftest import fill_data_dir
from tests.support.checkpoints import SAMPLES_PER_FRAME, export_v019_onnx, samples_per_frame

V019 = get_build("v0_19")


# -- facts of the format ---------------------------------------------------------------------
def test_vocab_is_the_fixed_178_symbol_list() -> None:
    """v0.19's kokoro.py: pad "$", 16 punctuation marks, 52 ASCII letters, 109 IPA symbols."""
    assert len(SYMBOLS) == 178 == V019.config["n_token"]
    assert VOCAB["$"] == 0 and VOCAB[";"] == 1 and VOCAB[" "] == 16
    assert VOCAB["A"] == 17 and VOCAB["a"] == 43 and VOCAB["ɑ"] == 69 and VOCAB["ᵻ"] == 177
    assert VOCAB["'"] == 176  # listed twice (174, 176): the dict v0.19 built keeps the later one
    assert len(VOCAB) == 177 and max(VOCAB.values()) == 177


def test_vocab_agrees_with_v1_0_where_v1_0_kept_symbols() -> None:
    """Independent check: v1.0's published vocab kept most v0.19 symbols at their v0.19 ids."""
    v1 = get_build("v1_0").vocab
    same = [s for s in v1 if VOCAB.get(s) == v1[s]]
    assert len(same) >= 100, len(same)
    assert all(VOCAB[s] == v1[s] for s in "ɑɐɒæβɔçðʤəɚɛɜɡɪŋθɹʃʊʌʒʔˈˌː")


def test_v0_19_config_builds_the_v1_0_architecture(assets: Path) -> None:
    import json

    v1 = json.loads((assets / "builds" / "v1_0" / "config.json").read_text())
    v019 = json.loads((assets / "builds" / "v0_19" / "config.json").read_text())
    derived = kmodel_config(v019)
    assert set(derived) == set(v1)
    assert {k: v for k, v in derived.items() if k != "vocab"} == {k: v for k, v in v1.items() if k != "vocab"}
    assert derived["vocab"] == VOCAB and V019.architecture == derived
    assert samples_per_frame(derived) == SAMPLES_PER_FRAME == 600


def test_style_row_follows_each_versions_reference_code() -> None:
    assert V019.style_row(5) == 5 and V019.style_row(510) == 510  # v0.19: voicepack[len(tokens)]
    assert get_build("v1_0").style_row(5) == 4 and get_build("v1_0").style_row(510) == 509


def test_checkpoint_is_unwrapped_from_net_and_module_prefixes(v019_checkpoint: Path) -> None:
    import torch

    raw = torch.load(v019_checkpoint, map_location="cpu", weights_only=True)
    assert set(raw) == {"net"}
    assert all(key.startswith("module.") for state in raw["net"].values() for key in state)
    state = load_checkpoint(v019_checkpoint)
    assert set(state) == {"bert", "bert_encoder", "predictor", "text_encoder", "decoder"}
    assert not any(key.startswith("module.") for s in state.values() for key in s)
    assert torch.equal(state["decoder"]["generator.conv_post.bias"], raw["net"]["decoder"]["module.generator.conv_post.bias"])


# -- the whole path ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def v019_service(tmp_path_factory: pytest.TempPathFactory, assets: Path, v019_checkpoint: Path):
    """Only v0.19 weights (the generated .pth) and the real voices of both versions."""
    root = fill_data_dir(tmp_path_factory.mktemp("v019-data"), assets)
    (root / "models" / "v0_19").mkdir(parents=True)
    (root / "models" / "v0_19" / "kokoro-v0_19.pth").symlink_to(v019_checkpoint)
    service = SpeechService(Settings(data_dir=root, threads=2, device="cpu", embedded_model=False))
    yield service
    service.close()


def test_loads_with_the_checkpoints_weights(v019_service: SpeechService, v019_checkpoint: Path) -> None:
    import torch

    loaded = v019_service.models.get("v0_19")
    assert loaded.backend.name == "torch" and loaded.location.path.name == "kokoro-v0_19.pth"
    raw = torch.load(v019_checkpoint, map_location="cpu", weights_only=True)["net"]
    model = loaded.backend._model
    for component in ("bert", "predictor", "decoder"):
        ours = getattr(model, component).state_dict()
        for key, value in list(raw[component].items())[:: max(1, len(raw[component]) // 7)]:
            assert torch.equal(ours[key.removeprefix("module.")], value), key


def test_v0_19_voice_routes_to_v0_19_and_audio_matches_durations(v019_service: SpeechService) -> None:
    prepared = v019_service.prepare(SpeechRequest(text="Hi.", voice="af_irulan", speed=2.0))
    assert prepared.build.version == "v0_19"
    assert prepared.pack.shape == (511, 1, 256)  # the real v0.19 pack
    phonemes = V019.make_phonemizer("a")(prepared.text)
    tokens = V019.tokenize(phonemes)
    assert tokens and all(0 < t < 178 for t in tokens)
    backend = v019_service.models.get("v0_19").backend
    output = backend.synthesize(tokens, prepared.pack[V019.style_row(len(tokens))], prepared.speed)
    assert output.durations.shape == (len(tokens) + 2,) and (output.durations >= 1).all()
    assert output.audio.size == int(output.durations.sum()) * SAMPLES_PER_FRAME
    assert np.isfinite(output.audio).all() and np.abs(output.audio).max() > 0


def test_service_streams_v0_19_audio(v019_service: SpeechService) -> None:
    chunks = list(v019_service.stream(v019_service.prepare(
        SpeechRequest(text="Hi.", model="v0_19", speed=2.0))))  # no voice: v0.19's default, af
    assert len(chunks) == 1
    spoken = int(chunks[0].durations.sum()) * SAMPLES_PER_FRAME  # the model's output, edge silence included
    speech = chunks[0].audio.size - int(round(chunks[0].chunk.pause_seconds * 24_000 / 2.0))
    assert 0 < speech <= spoken and np.abs(chunks[0].audio[:speech]).max() > 0


def test_v1_0_is_a_clear_error_while_v0_19_works(v019_service: SpeechService) -> None:
    """No v1.0 weights (embedded model off): the error names the files; v0.19 is unaffected."""
    from kokoro_server.errors import FileProblemError

    with pytest.raises(FileProblemError) as caught:
        v019_service.prepare(SpeechRequest(text="Hello.", voice="af_heart"))
    assert "kokoro-v1_0.pth" in caught.value.message and "models/v1_0" in caught.value.message
    assert caught.value.status_code == 424
    assert v019_service.models.usable(V019)
    assert v019_service.prepare(SpeechRequest(text="Hi.", voice="am_gurney")).build is V019


@pytest.mark.slow
def test_onnx_export_of_v0_19_runs_on_the_onnx_backend(tmp_path_factory: pytest.TempPathFactory,
                                                        assets: Path, v019_checkpoint: Path,
                                                        v019_service: SpeechService) -> None:
    """The v0.19 model exported to ONNX (same inputs as Kokoro's ONNX files) is picked and run by
    the ONNX backend, and predicts exactly the durations the PyTorch backend predicts."""
    root = fill_data_dir(tmp_path_factory.mktemp("v019-onnx"), assets)
    export_v019_onnx(v019_checkpoint, root / "models" / "v0_19" / "kokoro-v0_19.onnx")
    service = SpeechService(Settings(data_dir=root, threads=2, backend="onnx", embedded_model=False))
    try:
        loaded = service.models.get("v0_19")
        assert loaded.backend.name == "onnx"
        tokens = V019.tokenize(V019.make_phonemizer("a")("Hi."))
        style = service.voices.load(V019, "af_irulan")[V019.style_row(len(tokens))]
        onnx_out = loaded.backend.synthesize(tokens, style, 2.0)
        torch_out = v019_service.models.get("v0_19").backend.synthesize(tokens, style, 2.0)
        assert np.array_equal(onnx_out.durations, torch_out.durations)
        assert onnx_out.audio.size == int(onnx_out.durations.sum()) * SAMPLES_PER_FRAME == torch_out.audio.size
    finally:
        service.close()
