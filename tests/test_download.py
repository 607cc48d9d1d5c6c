"""``kokoro-server download`` against a stand-in hub on 127.0.0.1 serving the real asset files."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from kokoro_server.cli import main
from kokoro_server.datadir import DataDir
from kokoro_server.download.command import DownloadRequest, plan
from kokoro_server.download.hub import HubClient
from kokoro_server.builds.downloads import HubFile
from kokoro_server.builds.v1_0.downloads import REPO as KOKORO_REPO, REVISION as V1_0_REVISION
from kokoro_server.errors import DownloadError, HubUnreachableError
from tests.support.hub import FakeHub, assets_route

VOICES = ("af_heart", "am_michael")


@pytest.fixture(autouse=True)
def no_proxy_for_the_stand_in(monkeypatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def hub(assets: Path):
    with FakeHub(assets_route(assets)) as server:
        yield server


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


def download(data: Path, hub_url: str, *args: str) -> int:
    return main(["--data-dir", str(data), "download", "--hub-url", hub_url, "-q", *args])


def cdn_gets(hub: FakeHub, name: str):
    return [r for r in hub.requests("GET", "/cdn/") if r.path.split("?")[0].endswith("/" + name)]


def no_part_files(root: Path) -> bool:
    return not list(root.rglob("*.part"))


def test_fresh_download_then_rerun_transfers_nothing(hub: FakeHub, data: Path, assets: Path, capsys) -> None:
    assert download(data, hub.url, "--voices", ",".join(VOICES)) == 0
    for name in VOICES:
        got = data / "voices" / "v1_0" / f"{name}.pt"
        assert got.read_bytes() == (assets / "voices" / "v1_0" / f"{name}.pt").read_bytes()
        # the hub's LFS redirect was followed to the CDN, which sent the bytes once
        assert [r.status for r in cdn_gets(hub, f"{name}.pt")] == [200]
    assert (data / "models" / "v1_0" / "config.json").read_bytes() == \
        (assets / "builds" / "v1_0" / "config.json").read_bytes()
    assert no_part_files(data)
    assert "3 downloaded, 0 already present, 0 failed" in capsys.readouterr().out

    hub.clear()
    assert download(data, hub.url, "--voices", ",".join(VOICES)) == 0
    assert hub.requests("GET") == []  # nothing transferred
    out = capsys.readouterr().out
    assert "0 downloaded, 3 already present" in out and "0 bytes transferred" in out


def test_a_dropped_connection_resumes_where_it_stopped(hub: FakeHub, data: Path, assets: Path) -> None:
    size = (assets / "voices" / "v1_0" / "af_heart.pt").stat().st_size
    hub.faults["voices/af_heart.pt"] = "drop_once"
    assert download(data, hub.url, "--voices", "af_heart") == 0
    first, second = cdn_gets(hub, "af_heart.pt")
    assert first.range is None and 0 < first.sent < size
    assert second.range == f"bytes={first.sent}-" and second.status == 206
    assert first.sent + second.sent == size  # no byte was sent twice
    assert (data / "voices" / "v1_0" / "af_heart.pt").read_bytes() == \
        (assets / "voices" / "v1_0" / "af_heart.pt").read_bytes()


def test_an_interrupted_run_is_continued_by_the_next_one(hub: FakeHub, data: Path, assets: Path,
                                                        capsys) -> None:
    real = (assets / "voices" / "v1_0" / "am_michael.pt").read_bytes()
    target = data / "voices" / "v1_0" / "am_michael.pt"
    hub.faults["voices/am_michael.pt"] = "drop"
    file = HubFile(KOKORO_REPO, V1_0_REVISION, "voices/am_michael.pt", "voices", "am_michael.pt")
    with HubClient(hub.url, retries=0, progress=False) as client:
        with pytest.raises(DownloadError, match="next run continues"):
            client.fetch(file, target)
    (first,) = cdn_gets(hub, "am_michael.pt")
    assert not target.exists() and (target.parent / "am_michael.pt.part").stat().st_size == first.sent

    del hub.faults["voices/am_michael.pt"]
    assert download(data, hub.url, "--voices", "am_michael") == 0
    _, second = cdn_gets(hub, "am_michael.pt")
    assert second.range == f"bytes={first.sent}-" and first.sent + second.sent == len(real)
    assert target.read_bytes() == real
    assert no_part_files(data)
    assert f"resumed at {first.sent} bytes" in capsys.readouterr().out


def test_a_corrupt_file_is_rejected_and_not_installed(hub: FakeHub, data: Path, capsys) -> None:
    hub.faults["voices/af_heart.pt"] = "corrupt"
    assert download(data, hub.url, "--voices", "af_heart,am_michael") == 2
    err = capsys.readouterr().err
    assert "voices/af_heart.pt" in err and "corrupt (SHA-256" in err and "nothing was installed" in err
    assert not (data / "voices" / "v1_0" / "af_heart.pt").exists()
    assert (data / "voices" / "v1_0" / "am_michael.pt").is_file()  # the other files still came
    assert no_part_files(data)


def test_a_corrupt_regular_file_fails_its_git_blob_id(hub: FakeHub, data: Path, capsys) -> None:
    hub.faults["config.json"] = "corrupt"
    assert download(data, hub.url, "--voices", "none") == 2
    assert "git blob id" in capsys.readouterr().err
    assert not (data / "models" / "v1_0" / "config.json").exists() and no_part_files(data)


def swapped(assets: Path, revision: str):
    """The stand-in hub, except that voices/af_heart.pt at ``revision`` holds af_bella's (valid) pack."""
    route = assets_route(assets)

    def swap(repo: str, rev: str, path: str) -> Path | None:
        if rev == revision and path == "voices/af_heart.pt":
            return assets / "voices" / "v1_0" / "af_bella.pt"
        return route(repo, rev, path)

    return swap


def test_a_mirror_serving_another_file_is_refused_before_any_transfer(assets: Path, data: Path,
                                                                        capsys) -> None:
    with FakeHub(swapped(assets, V1_0_REVISION)) as hub:
        assert download(data, hub.url, "--voices", "af_heart") == 2
        assert cdn_gets(hub, "af_heart.pt") == []
    assert "is known to be 0ab5709b" in capsys.readouterr().err
    assert not (data / "voices" / "v1_0" / "af_heart.pt").exists()


def test_other_revisions_are_checked_by_the_hubs_headers_only(assets: Path, data: Path) -> None:
    with FakeHub(swapped(assets, "other")) as hub:
        assert download(data, hub.url, "--voices", "af_heart", "--revision", "other") == 0
        (head,) = [r for r in hub.requests("HEAD") if "af_heart" in r.path]
    assert "/resolve/other/voices/af_heart.pt" in head.path
    assert (data / "voices" / "v1_0" / "af_heart.pt").read_bytes() == \
        (assets / "voices" / "v1_0" / "af_bella.pt").read_bytes()


def test_a_file_that_is_not_a_voice_pack_is_rejected(hub: FakeHub, data: Path, capsys) -> None:
    hub.faults["voices/af_heart.pt"] = "lie"  # the digests agree with the bytes, but the bytes are broken
    assert download(data, hub.url, "--voices", "af_heart", "--revision", "main") == 2
    assert "voices/af_heart.pt is not a valid voice pack" in capsys.readouterr().err
    assert not (data / "voices" / "v1_0" / "af_heart.pt").exists() and no_part_files(data)


def test_a_missing_file_is_reported_with_its_url(hub: FakeHub, data: Path, capsys) -> None:
    assert download(data, hub.url, "--voices", "af_nobody") == 2
    err = capsys.readouterr().err
    assert "voices/af_nobody.pt is not on the hub (HTTP 404" in err
    assert f"{hub.url}/{KOKORO_REPO}/resolve/{V1_0_REVISION}/voices/af_nobody.pt" in err
    assert "Traceback" not in err


def test_no_network_fails_at_once_with_a_clear_message(data: Path, capsys) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert download(data, f"http://127.0.0.1:{port}", "--voices", "af_heart") == 2
    err = capsys.readouterr().err
    assert "cannot reach the model hub" in err and "connection refused" in err and "Traceback" not in err
    assert not (data / "voices").exists() or no_part_files(data)


def test_an_unreachable_hub_is_tried_once_not_retried(tmp_path: Path) -> None:
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request.url)
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    file = HubFile(KOKORO_REPO, V1_0_REVISION, "voices/af_heart.pt", "voices", "af_heart.pt")
    with HubClient("https://hub.invalid", progress=False, transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(HubUnreachableError, match="host name not found"):
            client.fetch(file, tmp_path / "af_heart.pt")
    assert len(calls) == 1


def test_the_service_speaks_with_the_downloaded_voices(hub: FakeHub, data: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.audio import assert_speech_like, decode

    # the plain model: deriving the default fast variant in this fresh data dir would add a minute
    monkeypatch.setenv("KOKORO_FAST_MODEL", "false")
    assert download(data, hub.url, "--voices", ",".join(VOICES)) == 0
    out = tmp_path / "hello.wav"
    assert main(["--data-dir", str(data), "say", "Hello from the downloaded voices.", "-o", str(out),
                 "-v", "af_heart+am_michael", "-q"]) == 0
    audio, rate = decode(out.read_bytes())
    assert rate == 24_000
    assert_speech_like(audio, min_seconds=1.0, max_seconds=6.0)


def test_pth_weights_arrive_beside_their_config(hub: FakeHub, data: Path, assets: Path) -> None:
    source = assets / "models" / "v1_0" / "kokoro-v1_0-dequant-fp16.pth"  # plays kokoro-v1_0.pth here
    assert download(data, hub.url, "--weights", "pth", "--voices", "none", "--revision", "main") == 0
    got = data / "models" / "v1_0" / "kokoro-v1_0.pth"
    assert got.stat().st_size == source.stat().st_size
    assert (data / "models" / "v1_0" / "config.json").is_file()
    assert sum(r.sent for r in cdn_gets(hub, "kokoro-v1_0.pth")) == source.stat().st_size


def test_v0_19_voices_come_from_the_v0_19_revision(hub: FakeHub, data: Path, assets: Path) -> None:
    assert download(data, hub.url, "-m", "v0_19", "--weights", "none", "--voices", "af_bella") == 0
    assert (data / "voices" / "v0_19" / "af_bella.pt").read_bytes() == \
        (assets / "voices" / "v0_19" / "af_bella.pt").read_bytes()
    assert (data / "models" / "v0_19" / "config.json").read_bytes() == \
        (assets / "builds" / "v0_19" / "config.json").read_bytes()


def test_what_a_request_means(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path)
    v019 = [f.name for f in plan(DownloadRequest("v0_19", voices="none"), data_dir)]
    assert v019 == ["config.json", "kokoro-v0_19.onnx"]  # v0.19 cannot run without weights
    v10 = plan(DownloadRequest("v1_0", voices="all"), data_dir)
    assert [f.name for f in v10][:1] == ["config.json"] and len(v10) == 1 + 54  # embedded model: no weights
    assert all(f.sha256 for f in v10[1:])
    onnx = plan(DownloadRequest("v1_0", weights="onnx", voices="none", revision="abc"), data_dir)[1]
    assert (onnx.repo, onnx.path, onnx.name, onnx.revision) == \
        ("onnx-community/Kokoro-82M-v1.0-ONNX", "onnx/model.onnx", "kokoro-v1_0.onnx", "abc")


def test_unavailable_weights_are_refused(data: Path, capsys) -> None:
    assert main(["--data-dir", str(data), "download", "-m", "v0_19", "--weights", "onnx-int8"]) == 2
    assert "not available for v0_19" in capsys.readouterr().err


def test_models_prints_the_download_command_that_fixes_it(data: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("KOKORO_EMBEDDED_MODEL", "false")
    assert main(["--data-dir", str(data), "models"]) == 0
    out = capsys.readouterr().out
    assert "kokoro-server download -m v0_19 --weights onnx --voices all" in out
    assert "kokoro-server download -m v1_0 --weights onnx" in out
