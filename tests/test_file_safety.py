"""No voice file or mix can break the server: crafted and corrupt ``.pt`` files are refused with the
file named (HTTP 424 through the real server, never a 500 or a crash), and mix weights must be finite
and above 0 (HTTP 400)."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest

from kokoro_server.errors import FileProblemError, InvalidVoiceSpecError
from kokoro_server.voices.mix import parse_mix
from kokoro_server.voices.packs import read_pack_file
from kokoro_server.voices.torch_pickle import load_tensor_file
from tests.support.crafted_pt import HEART_NUMEL, crafted_files, rewrite, tensor_pickle
from tests.support.server import ServerThread, writable_data_dir


@pytest.fixture(scope="module")
def heart(assets: Path) -> Path:
    return assets / "voices" / "v1_0" / "af_heart.pt"


@pytest.fixture(scope="module")
def crafted(heart: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return crafted_files(heart, tmp_path_factory.mktemp("crafted"))


def test_the_crafting_rewrites_a_real_pack_faithfully(heart: Path, tmp_path: Path) -> None:
    """The same pickle the crafted files vary gives back the real pack, and a legal view (offset by one
    row) reads exactly those elements: the refusals below are about the bad values alone."""
    real = load_tensor_file(heart)
    same = load_tensor_file(rewrite(heart, tmp_path / "same.pt", tensor_pickle()))
    np.testing.assert_array_equal(same, real)
    shifted = load_tensor_file(rewrite(heart, tmp_path / "shifted.pt", tensor_pickle(offset=256, size=(509, 1, 256))))
    np.testing.assert_array_equal(shifted, real[1:])
    last = load_tensor_file(rewrite(heart, tmp_path / "last.pt", tensor_pickle(offset=HEART_NUMEL - 1, size=(1,),
                                                                              stride=(1,))))
    assert last.tolist() == [real.reshape(-1)[-1]]


@pytest.mark.parametrize("kind", ["huge_stride", "offset_past_end", "far_offset", "negative_size", "negative_stride",
                                  "wrong_dtype", "int_dtype", "short_storage", "not_a_storage", "zero_stride_huge",
                                  "mismatched_dims", "garbage_pickle", "truncated"])
def test_crafted_pack_is_refused_with_the_file_named(crafted: dict[str, Path], kind: str) -> None:
    path = crafted[f"af_{kind}"]
    with pytest.raises(FileProblemError) as caught:
        read_pack_file(path)
    assert str(path) in caught.value.message


@pytest.mark.parametrize("spec", ["af_heart(1e308)+af_sky(1e308)", "af_bella(1e308)+af_bella(1e308)",
                                  "af_bella(inf)", "af_bella(nan)+af_sky", "af_bella(0)+af_sky(1)",
                                  "af_bella(-0.5)+af_sky(1)", "af_bella(1e400)"])
def test_mix_weights_must_be_finite_and_above_zero(spec: str) -> None:
    with pytest.raises(InvalidVoiceSpecError):
        parse_mix(spec)


def test_tiny_and_large_finite_weights_still_mix() -> None:
    assert [w for _, w in parse_mix("af_bella(1e300)+af_sky(1e300)").parts] == pytest.approx([0.5, 0.5])
    assert [w for _, w in parse_mix("af_bella(1e-300)+af_sky(3e-300)").parts] == pytest.approx([0.25, 0.75])


# -- through the real server ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(data_dir: Path, crafted: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    from kokoro_server.settings import Settings

    root = writable_data_dir(tmp_path_factory.mktemp("safety-data"), data_dir)
    for path in crafted.values():
        shutil.copy(path, root / "voices" / "v1_0" / path.name)
    running = ServerThread(Settings(data_dir=root, threads=1, concurrency=1)).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def http(server: ServerThread):
    with httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


@pytest.mark.parametrize("kind", ["huge_stride", "offset_past_end", "negative_size", "wrong_dtype", "not_a_storage",
                                  "zero_stride_huge", "garbage_pickle", "truncated"])
def test_server_answers_a_crafted_voice_with_the_file_error(http: httpx.Client, kind: str) -> None:
    name = f"af_{kind}"
    for path, body in (("/v1/audio/speech", {"model": "kokoro", "input": "Hello.", "voice": name}),
                       ("/v1/audio/speech", {"input": "Hello.", "voice": f"af_heart+{name}"}),
                       ("/v1/audio/voices/combine", {"voices": f"af_heart(2)+{name}(1)"})):
        response = http.post(path, json=body)
        assert response.status_code == 424, (path, response.text)
        error = response.json()["error"]
        assert error["code"] == "model_files_missing" and f"{name}.pt" in error["message"], error
    assert http.get("/health").status_code == 200  # still serving


def test_server_refuses_overflowing_mix_weights(http: httpx.Client) -> None:
    for path, body in (("/v1/audio/speech", {"input": "Hello.", "voice": "af_heart(1e308)+af_sky(1e308)"}),
                       ("/v1/audio/voices/combine", {"voices": "af_heart(1e308)+af_sky(1e308)"}),
                       ("/v1/audio/speech", {"input": "Hello.", "voice": "af_heart(0)+af_sky(1)"})):
        response = http.post(path, json=body)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]["param"] == "voice"
