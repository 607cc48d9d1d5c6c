"""``kokoro-server migrate``: move an old single-version install into the versioned data dir.

Old layouts this reads:

* v0.19 (``--from OLD``): ``OLD/builds/{config.json, models.py, istftnet.py, plbert.py}``,
  ``OLD/voices/*.pt`` and the weights as ``kokoro-v0_19.pth`` (or ``.onnx``) in ``OLD``,
  ``OLD/builds`` or ``OLD/models``;
* v1.0 as downloaded (``--v1 KOKORO82M_DIR``): ``config.json``, ``kokoro-v1_0.pth``, ``voices/*.pt``.

They go to ``DATA/models/<version>/`` and ``DATA/voices/<version>/``. The code files are not
migrated (kokoro-server has its own build of each version); each ``config.json`` is checked to be
the version's config. The plan is made, checked and printed before anything is written: every
source must be a readable regular file, each voice pack must have its version's shape, a
checkpoint must be a PyTorch archive, and an existing different target is a conflict unless
``--force``. Then each file is copied to a hidden temporary file beside its target, flushed,
re-read and checked (SHA-256 against the source; a voice pack's shape again) and only then
renamed to its final name (``os.replace``, atomic). Any failure or interruption rolls back what the
run did (replaced files come back). ``--move`` deletes the sources only once everything is in place.
Re-running a finished migration finds every target identical and does nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from kokoro_server.builds import BUILDS, Build, get_build, official_files
from kokoro_server.errors import FileProblemError, MigrationError, VoiceVersionMismatchError
from kokoro_server.files import create_temp, file_sha256, keep_mode
from kokoro_server.voices.packs import PACK_SUFFIXES, read_pack_file, validate_pack

CHUNK = 1 << 20
TEMP_MARK = ".migrate-"
BACKUP_SUFFIX = f"{TEMP_MARK}backup"
CODE_FILES = ("models.py", "istftnet.py", "plbert.py", "kokoro.py")
V019_WEIGHT_FOLDERS = (".", "builds", "models")


@dataclass(frozen=True)
class Item:
    version: str
    kind: str  # "model" | "voice"
    source: Path
    target: Path
    state: str  # "new" | "same" (identical target exists) | "conflict" (a different one exists)
    size: int


@dataclass
class Plan:
    data_dir: Path
    mode: str  # "copy" | "move"
    items: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def todo(self) -> list[Item]:
        return [item for item in self.items if item.state != "same"]

    @property
    def conflicts(self) -> list[Item]:
        return [item for item in self.items if item.state == "conflict"]


@dataclass
class Result:
    written: list[Item] = field(default_factory=list)
    replaced: list[Item] = field(default_factory=list)
    removed_sources: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    official: list[str] = field(default_factory=list)


# -- planning ---------------------------------------------------------------------------------
def plan_migration(old: Path, v1: Path | None, data_dir: Path, *, mode: str = "copy") -> Plan:
    """What would be written where, every source checked; nothing is written."""
    plan = Plan(data_dir=data_dir, mode=mode)
    _require_folder(old, "--from")
    v019 = get_build("v0_19")
    _check_config(plan, old / "builds" / "config.json", v019)
    code = [str(p) for folder in (old / "builds", old) for name in CODE_FILES if (p := folder / name).is_file()]
    if code:
        plan.notes.append(f"not migrated (code; kokoro-server has its own v0.19 build): {', '.join(code)}")
    weights = _find_weights(old, v019)
    if not weights:
        looked = ", ".join(str(old / f) for f in V019_WEIGHT_FOLDERS)
        plan.notes.append(f"no v0.19 weights found ({' or '.join(wf.name for wf in v019.weight_files)} in "
                          f"{looked}): v0.19 voices are migrated, but v0.19 stays unusable until you place "
                          f"its weights in {data_dir / 'models' / 'v0_19'}")
    _add_all(plan, v019, weights, _voice_files(old / "voices"))
    if v1 is not None:
        _require_folder(v1, "--v1")
        build = get_build("v1_0")
        _check_config(plan, v1 / "config.json", build)
        found = [v1 / wf.name for wf in build.weight_files if (v1 / wf.name).exists()]
        if not found:
            plan.notes.append(f"no v1.0 weights in {v1} ({', '.join(wf.name for wf in build.weight_files)})")
        _add_all(plan, build, found, _voice_files(v1 / "voices"))
    return plan


def find_leftovers(data_dir: Path) -> list[Path]:
    """Hidden files a killed run left in ``models/*/`` and ``voices/*/`` (temporaries, set-aside files)."""
    folders = [f for kind in ("models", "voices") if (data_dir / kind).is_dir()
               for f in (data_dir / kind).iterdir() if f.is_dir()]
    return sorted(p for folder in folders for p in folder.glob(f".*{TEMP_MARK}*"))


def recover(leftovers: Iterable[Path]) -> list[str]:
    """Finish the rollback of a killed run: put set-aside files back, delete temporaries."""
    done = []
    for path in leftovers:
        if path.name.endswith(BACKUP_SUFFIX):
            target = path.with_name(path.name[1:-len(BACKUP_SUFFIX)])
            os.replace(path, target)
            done.append(f"restored {target}")
        else:
            path.unlink(missing_ok=True)
            done.append(f"removed {path}")
    return done


def _require_folder(path: Path, option: str) -> None:
    if not path.is_dir():
        raise MigrationError(f"{option} {path}: not a folder")


def _check_config(plan: Plan, path: Path, build: Build) -> None:
    """An old config.json must be this version's (kokoro-server uses its own copy of it)."""
    if not path.exists():
        plan.notes.append(f"no {path} (not needed: kokoro-server ships {build.title}'s config)")
        return
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MigrationError(f"cannot read {path}: {exc}") from exc
    if config != dict(build.config):
        differs = sorted(k for k in set(config) | set(build.config) if config.get(k) != build.config.get(k))
        raise MigrationError(f"{path} is not {build.title}'s config (differs in: {', '.join(differs)}); "
                             "this looks like another model, which kokoro-server cannot run")
    plan.notes.append(f"checked: {path} is {build.title}'s config")


def _find_weights(old: Path, build: Build) -> list[Path]:
    found = []
    for wf in build.weight_files:
        for folder in V019_WEIGHT_FOLDERS:
            if (old / folder / wf.name).exists():
                found.append((old / folder / wf.name))
                break
    return found


def _voice_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in PACK_SUFFIXES and not p.name.startswith("."))


def _add_all(plan: Plan, build: Build, weights: Iterable[Path], voices: Iterable[Path]) -> None:
    models_dir = plan.data_dir / "models" / build.version
    voices_dir = plan.data_dir / "voices" / build.version
    for path in weights:
        _check_model(path)
        plan.items.append(_item(build.version, "model", path, models_dir / path.name))
    for path in voices:
        _check_readable(path)
        _check_pack(path, build, label=path)
        plan.items.append(_item(build.version, "voice", path, voices_dir / path.name))


def _check_readable(path: Path) -> None:
    if not path.is_file():
        raise MigrationError(f"cannot migrate {path}: not a regular file")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise MigrationError(f"cannot read {path} ({exc.strerror or exc}); fix its permissions "
                             f"(chmod a+r {path}) and run again") from exc


def _check_model(path: Path) -> None:
    _check_readable(path)
    if path.suffix == ".pth" and not zipfile.is_zipfile(path):
        raise MigrationError(f"{path} is not a PyTorch checkpoint (not a torch.save zip archive)")


def _check_pack(path: Path, build: Build, *, label: Path) -> None:
    rows = {b.voice_rows: b.version for b in BUILDS.values()}
    try:
        validate_pack(read_pack_file(path), rows=build.voice_rows, version=build.version, source=str(label),
                      versions_by_rows=rows)
    except (VoiceVersionMismatchError, FileProblemError) as exc:
        raise MigrationError(f"{label} is not a {build.title} voice pack: {exc.message}") from exc


def _item(version: str, kind: str, source: Path, target: Path) -> Item:
    size = source.stat().st_size
    if not target.exists() and not target.is_symlink():
        state = "new"
    elif target.is_file() and target.stat().st_size == size and file_sha256(target) == file_sha256(source):
        state = "same"
    elif target.is_dir():
        raise MigrationError(f"cannot migrate {source}: the target {target} is a folder")
    else:
        state = "conflict"
    return Item(version, kind, source, target, state, size)


def format_plan(plan: Plan, *, force: bool) -> str:
    verb = "move" if plan.mode == "move" else "copy"
    lines = [f"Migration plan into {plan.data_dir} ({verb}):"]
    for item in plan.items:
        state = {"new": verb, "same": "already there, identical",
                 "conflict": "REPLACE a different file" if force else "CONFLICT: a different file exists"}[item.state]
        lines.append(f"  {item.version:<6} {item.kind:<5} {item.source} -> {item.target}  "
                     f"[{state}, {item.size / 1e6:.1f} MB]")
    if not plan.items:
        lines.append("  (no model or voice files found)")
    lines += [f"  {note}" for note in plan.notes]
    return "\n".join(lines)


# -- performing -------------------------------------------------------------------------------
def copy_file(source: Path, out: BinaryIO) -> str:
    """Copy ``source`` into ``out``; the SHA-256 of what was read."""
    digest = hashlib.sha256()
    with source.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def _write_verified(item: Item) -> tuple[Path, str]:
    """A checked copy of ``item.source`` under a hidden temporary name beside its target."""
    fd, tmp = create_temp(item.target.parent, f".{item.target.stem}{TEMP_MARK}", f".part{item.target.suffix}")
    try:
        with os.fdopen(fd, "wb") as out:
            source_sha = copy_file(item.source, out)
            out.flush()
            os.fsync(out.fileno())
        written_sha = file_sha256(tmp)
        if written_sha != source_sha:
            raise MigrationError(f"checksum mismatch after copying {item.source}: SHA-256 {written_sha} "
                                 f"written, {source_sha} read")
        if item.kind == "voice":
            _check_pack(tmp, get_build(item.version), label=item.source)
        keep_mode(tmp, item.target)  # a new file gets the umask's mode, a replaced one keeps its own
        return tmp, source_sha
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _make_dirs(folder: Path, created: list[Path]) -> None:
    missing = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        path.mkdir()
        created.append(path)


def perform(plan: Plan, *, force: bool = False) -> Result:
    """Carry out a plan all or nothing (see the module's doc)."""
    if plan.conflicts and not force:
        names = ", ".join(str(item.target) for item in plan.conflicts)
        raise MigrationError(f"{len(plan.conflicts)} target file(s) exist with different content: {names}. "
                             "Nothing was written; re-run with --force to replace them")
    result = Result()
    journal: list[tuple[Path, Path | None]] = []  # (target, its previous content set aside)
    created: list[Path] = []
    current: Item | None = None
    try:
        for current in plan.todo:
            _make_dirs(current.target.parent, created)
            tmp, sha = _write_verified(current)
            try:
                backup = None
                if current.target.exists() or current.target.is_symlink():
                    backup = current.target.with_name(f".{current.target.name}{BACKUP_SUFFIX}")
                    os.replace(current.target, backup)
                journal.append((current.target, backup))
                os.replace(tmp, current.target)
            finally:
                tmp.unlink(missing_ok=True)
            (result.replaced if backup else result.written).append(current)
            official = official_files().get(sha)
            if official is not None:
                result.official.append(f"{current.target} is the official {official}")
    except BaseException as exc:
        undone = _roll_back(journal, created)
        if isinstance(exc, (OSError, MigrationError)):
            where = f" at {current.source}" if current is not None else ""
            reason = exc.message if isinstance(exc, MigrationError) else f"{type(exc).__name__}: {exc}"
            raise MigrationError(f"migration failed{where} ({reason}); rolled back {undone} file(s) this run "
                                 f"had written, the sources are untouched") from exc
        raise  # an interruption: rolled back, then let it through
    for _, backup in journal:
        if backup is not None:
            backup.unlink(missing_ok=True)
    if plan.mode == "move":
        for item in plan.items:
            try:
                item.source.unlink()
                result.removed_sources.append(item.source)
            except OSError as exc:
                result.warnings.append(f"could not remove the source {item.source} ({exc.strerror or exc}); "
                                       "its copy is in place")
    return result


def _roll_back(journal: list[tuple[Path, Path | None]], created: list[Path]) -> int:
    undone = 0
    for target, backup in reversed(journal):
        try:
            if backup is not None:
                os.replace(backup, target)
            else:
                target.unlink(missing_ok=True)
            undone += 1
        except OSError:
            pass  # reported by the count; nothing else can be done here
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            pass
    return undone


# -- command line -----------------------------------------------------------------------------
def add_parser(sub: Any) -> None:
    parser = sub.add_parser("migrate", help="move an old single-version install into the versioned data dir",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="old", required=True, metavar="OLD",
                        help="old install: builds/config.json, voices/*.pt, kokoro-v0_19.pth (v0.19)")
    parser.add_argument("--v1", metavar="KOKORO82M_DIR", help="v1.0 as downloaded: config.json, "
                                                              "kokoro-v1_0.pth, voices/*.pt")
    parser.add_argument("--to", dest="to", required=True, metavar="DATA_DIR", help="the kokoro-server data dir")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--copy", dest="mode", action="store_const", const="copy", help="copy (default)")
    mode.add_argument("--move", dest="mode", action="store_const", const="move",
                      help="delete the sources once everything is in place")
    parser.add_argument("--force", action="store_true", help="replace existing files that differ")
    parser.set_defaults(mode="copy", func=cmd_migrate)


def cmd_migrate(args: argparse.Namespace) -> int:
    leftovers = find_leftovers(Path(args.to))
    if leftovers and args.dry_run:
        print(f"an interrupted run left {', '.join(map(str, leftovers))}: a real run first undoes it")
    elif leftovers:
        for line in recover(leftovers):
            print(f"undoing an interrupted run: {line}")
    plan = plan_migration(Path(args.old), Path(args.v1) if args.v1 else None, Path(args.to), mode=args.mode)
    print(format_plan(plan, force=args.force), flush=True)
    if args.dry_run:
        if plan.conflicts and not args.force:
            raise MigrationError(f"dry run: {len(plan.conflicts)} conflict(s); a real run would stop "
                                 "(use --force to replace them)")
        print(f"dry run: nothing written ({len(plan.todo)} file(s) would be written)")
        return 0
    if not plan.todo and not (plan.mode == "move" and plan.items):
        print("nothing to do: everything is already in place")
        return 0
    result = perform(plan, force=args.force)
    print(f"done: {len(result.written)} written, {len(result.replaced)} replaced, "
          f"{len(plan.items) - len(plan.todo)} already in place"
          + (f", {len(result.removed_sources)} source(s) removed" if plan.mode == "move" else ""))
    for line in result.official + result.warnings:
        print(f"  {line}")
    return 0
