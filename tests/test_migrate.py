"""``kokoro-server migrate`` on generated old layouts (real voice packs copied from the assets,
small generated ``.pth`` archives standing in for the weights, which migration copies unread)."""

from __future__ import annotations

import errno
import hashlib
import shutil
from pathlib import Path

import pytest

from kokoro_server import migrate
from kokoro_server.cli import main
from kokoro_server.service import SpeechService
from kokoro_server.settings import Settings

V019_VOICES = ("af", "af_irulan", "am_gurney")
V1_VOICES = ("af_heart", "af_v0irulan")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def small_pth(path: Path, *, v019: bool) -> Path:
    import torch

    state = {"bert_encoder": {"weight": torch.arange(12, dtype=torch.float32).reshape(3, 4)}}
    if v019:
        state = {"net": {c: {f"module.{k}": v for k, v in s.items()} for c, s in state.items()}}
    torch.save(state, path)
    return path


@pytest.fixture()
def layout(tmp_path: Path, assets: Path) -> dict[str, Path]:
    old, k82, data = tmp_path / "old", tmp_path / "Kokoro-82M", tmp_path / "data"
    (old / "builds").mkdir(parents=True)
    shutil.copy(assets / "builds" / "v0_19" / "config.json", old / "builds" / "config.json")
    for name in ("models.py", "istftnet.py", "plbert.py"):
        (old / "builds" / name).write_text("# the old single-version code\n")
    (old / "voices").mkdir()
    for name in V019_VOICES:
        shutil.copy(assets / "voices" / "v0_19" / f"{name}.pt", old / "voices")
    small_pth(old / "kokoro-v0_19.pth", v019=True)
    (k82 / "voices").mkdir(parents=True)
    shutil.copy(assets / "builds" / "v1_0" / "config.json", k82 / "config.json")
    for name in V1_VOICES:
        shutil.copy(assets / "voices" / "v1_0" / f"{name}.pt", k82 / "voices")
    small_pth(k82 / "kokoro-v1_0.pth", v019=False)
    return {"old": old, "v1": k82, "data": data}


def run(layout: dict[str, Path], *extra: str) -> int:
    return main(["migrate", "--from", str(layout["old"]), "--v1", str(layout["v1"]), "--to", str(layout["data"]),
                 *extra])


def expected_targets(layout: dict[str, Path]) -> dict[Path, Path]:
    data, old, v1 = layout["data"], layout["old"], layout["v1"]
    pairs = {data / "models/v0_19/kokoro-v0_19.pth": old / "kokoro-v0_19.pth",
             data / "models/v1_0/kokoro-v1_0.pth": v1 / "kokoro-v1_0.pth"}
    pairs.update({data / f"voices/v0_19/{n}.pt": old / f"voices/{n}.pt" for n in V019_VOICES})
    pairs.update({data / f"voices/v1_0/{n}.pt": v1 / f"voices/{n}.pt" for n in V1_VOICES})
    return pairs


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_dry_run_prints_the_plan_and_writes_nothing(layout, capsys) -> None:
    assert run(layout, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "Migration plan" in out and "nothing written (7 file(s) would be written)" in out
    assert "is Kokoro-82M v0.19's config" in out and "is Kokoro-82M v1.0's config" in out
    assert "not migrated (code" in out and "istftnet.py" in out
    assert not layout["data"].exists()


def test_copy_verifies_and_a_rerun_does_nothing(layout, capsys) -> None:
    assert run(layout) == 0
    assert "done: 7 written, 0 replaced" in capsys.readouterr().out
    targets = expected_targets(layout)
    assert all_files(layout["data"]) == sorted(targets)
    for target, source in targets.items():
        assert source.is_file() and sha(target) == sha(source)
        assert target.stat().st_mode & 0o444 == 0o444
    service = SpeechService(Settings(data_dir=layout["data"]))
    from kokoro_server.builds import get_build

    assert [v.name for v in service.voices.list(get_build("v0_19"))] == sorted(V019_VOICES)
    assert service.voices.load(get_build("v0_19"), "af_irulan").shape == (511, 1, 256)
    assert service.models.status(get_build("v0_19")).weights.endswith("models/v0_19/kokoro-v0_19.pth")
    stamps = {p: p.stat().st_mtime_ns for p in targets}
    assert run(layout) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in targets} == stamps


def test_move_removes_the_sources_only_after_success(layout, capsys) -> None:
    digests = {t: sha(s) for t, s in expected_targets(layout).items()}
    assert run(layout, "--move") == 0
    assert "7 source(s) removed" in capsys.readouterr().out
    assert {t: sha(t) for t in digests} == digests
    assert not list((layout["old"] / "voices").iterdir()) and not (layout["old"] / "kokoro-v0_19.pth").exists()
    assert (layout["old"] / "builds" / "models.py").is_file()  # code is left alone


def test_conflicting_target_is_never_overwritten_without_force(layout, assets, capsys) -> None:
    target = layout["data"] / "voices" / "v0_19" / "af.pt"
    target.parent.mkdir(parents=True)
    shutil.copy(assets / "voices" / "v0_19" / "af_bella.pt", target)
    before = sha(target)
    assert run(layout) == 2
    captured = capsys.readouterr()
    assert "CONFLICT" in captured.out and "--force" in captured.err and str(target) in captured.err
    assert sha(target) == before and all_files(layout["data"]) == [target]
    assert run(layout, "--force") == 0
    assert "1 replaced" in capsys.readouterr().out
    assert sha(target) == sha(layout["old"] / "voices" / "af.pt")
    assert not [p for p in all_files(layout["data"]) if p.name.startswith(".")]


def test_unreadable_source_stops_before_anything_is_written(layout, capsys) -> None:
    (layout["old"] / "voices" / "af_broken.pt").mkdir()  # root reads anything: a folder cannot be read as a file
    assert run(layout) == 2
    assert "af_broken.pt: not a regular file" in capsys.readouterr().err
    assert not layout["data"].exists()


def test_disk_error_mid_copy_rolls_back_everything(layout, assets, monkeypatch, capsys) -> None:
    replaced = layout["data"] / "voices" / "v0_19" / "af.pt"
    replaced.parent.mkdir(parents=True)
    shutil.copy(assets / "voices" / "v0_19" / "af_bella.pt", replaced)
    original = sha(replaced)
    calls = []
    real_copy = migrate.copy_file

    def failing_copy(source, out):
        calls.append(source)
        if len(calls) == 3:  # model, af (replacing), then af_irulan fails half-way
            out.write(source.read_bytes()[:1000])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(source, out)

    monkeypatch.setattr(migrate, "copy_file", failing_copy)
    sources = {s: sha(s) for s in expected_targets(layout).values()}
    assert run(layout, "--force") == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "af_irulan.pt" in err and "rolled back 2 file(s)" in err
    assert all_files(layout["data"]) == [replaced] and sha(replaced) == original  # restored, no temp left
    assert not (layout["data"] / "models").exists()  # folders this run made are gone
    assert {s: sha(s) for s in sources} == sources


def test_checksum_mismatch_after_copy_is_caught(layout, monkeypatch, capsys) -> None:
    real_copy = migrate.copy_file

    def corrupting_copy(source, out):
        digest = real_copy(source, out)
        out.seek(100)
        out.write(b"\x00\x01")  # a bit flip on the way to disk
        return digest

    monkeypatch.setattr(migrate, "copy_file", corrupting_copy)
    assert run(layout) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    assert all_files(layout["data"]) == []


def test_interruption_leaves_no_half_written_file(layout, monkeypatch, capsys) -> None:
    real_copy = migrate.copy_file
    calls = []

    def interrupted(source, out):
        calls.append(source)
        if len(calls) == 4:
            out.write(b"partial")
            raise KeyboardInterrupt
        return real_copy(source, out)

    monkeypatch.setattr(migrate, "copy_file", interrupted)
    assert run(layout) == 130
    assert all_files(layout["data"]) == []


def test_a_killed_runs_leftovers_are_undone_first(layout, assets, capsys) -> None:
    """A run killed outright (no rollback) left a temporary and a set-aside original."""
    folder = layout["data"] / "voices" / "v0_19"
    folder.mkdir(parents=True)
    shutil.copy(assets / "voices" / "v0_19" / "af_bella.pt", folder / ".af.pt.migrate-backup")
    (folder / ".af.migrate-k1ll3d.part.pt").write_bytes(b"half")
    assert run(layout) == 2  # the original af.pt is back, so it conflicts again (no --force)
    captured = capsys.readouterr()
    assert "undoing an interrupted run: restored" in captured.out and "CONFLICT" in captured.out
    assert all_files(layout["data"]) == [folder / "af.pt"]
    assert sha(folder / "af.pt") == sha(assets / "voices" / "v0_19" / "af_bella.pt")


def test_voice_pack_of_the_wrong_version_is_refused(layout, assets, capsys) -> None:
    shutil.copy(assets / "voices" / "v1_0" / "af_heart.pt", layout["old"] / "voices")
    assert run(layout) == 2
    err = capsys.readouterr().err
    assert "af_heart.pt is not a Kokoro-82M v0.19 voice pack" in err and "belongs to model version v1_0" in err
    assert not layout["data"].exists()


def test_other_models_config_is_refused(layout, capsys) -> None:
    config = layout["v1"] / "config.json"
    config.write_text(config.read_text().replace('"n_token": 178', '"n_token": 179'))
    assert run(layout) == 2
    assert "is not Kokoro-82M v1.0's config (differs in: n_token)" in capsys.readouterr().err


def test_weights_that_are_not_a_checkpoint_are_refused(layout, capsys) -> None:
    (layout["old"] / "kokoro-v0_19.pth").write_bytes(b"<html>not found</html>")
    assert run(layout) == 2
    assert "kokoro-v0_19.pth is not a PyTorch checkpoint" in capsys.readouterr().err


def test_missing_v0_19_weights_are_explained_and_voices_still_move(layout, capsys) -> None:
    (layout["old"] / "kokoro-v0_19.pth").unlink()
    assert main(["migrate", "--from", str(layout["old"]), "--to", str(layout["data"])]) == 0
    out = capsys.readouterr().out
    assert "no v0.19 weights found" in out and "done: 3 written" in out
