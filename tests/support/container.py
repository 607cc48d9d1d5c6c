"""Building and running the image with podman, offline: a Debian bookworm base made locally with
mmdebstrap and imported, and the dependencies as wheels built on the host (the build has no index).
Both are cached in ``$KOKORO_CONTAINER_CACHE`` (default ``~/.cache/kokoro-server/containers``)
between runs: the base tarball by name, the wheels by the SHA-256 of pyproject.toml."""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

CACHE = Path(os.environ.get("KOKORO_CONTAINER_CACHE", Path.home() / ".cache" / "kokoro-server" / "containers"))
BASE_IMAGE = "localhost/kokoro-base:bookworm"
BASE_PACKAGES = "python3,python3-venv,ca-certificates,libstdc++6,libgomp1"
# Known pitfalls of podman on these machines: crun and systemd cgroups do not work, limits must be given.
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
# runc may only lower limits: this process's open-file limit, and a modest process count.
_NOFILE = resource.getrlimit(resource.RLIMIT_NOFILE)
LIMITS = ["--ulimit", f"nofile={_NOFILE[0]}:{_NOFILE[1]}", "--ulimit", "nproc=4096:4096"]


def podman(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def base_image() -> str:
    if podman("image", "exists", BASE_IMAGE, check=False).returncode == 0:
        return BASE_IMAGE
    tarball = CACHE / "base-bookworm.tar"
    if not tarball.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = CACHE / "base-bookworm.part.tar"
        subprocess.run(["mmdebstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", str(partial)],
                       check=True, capture_output=True, timeout=1200)
        partial.replace(tarball)
    podman("import", str(tarball), BASE_IMAGE)
    return BASE_IMAGE


def dependency_wheels(repo: Path) -> Path:
    """Wheels of every dependency of the project (and of its build), for ``pip install --no-index``."""
    key = hashlib.sha256((repo / "pyproject.toml").read_bytes()).hexdigest()[:12]
    folder = CACHE / f"wheels-{key}"
    if folder.is_dir():
        return folder
    partial = CACHE / f"wheels-{key}.part"
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(partial), str(repo),
                    "setuptools", "wheel"], check=True, capture_output=True, timeout=1800)
    for own in partial.glob("kokoro_server-*.whl"):
        own.unlink()  # the image installs the project from its sources
    partial.replace(folder)
    return folder


def build_context(repo: Path, wheels: Path, target: Path) -> Path:
    """What `docker build .` sees in a checkout, with deploy/wheels/ filled (hard links when possible)."""
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md"):
        shutil.copy2(repo / name, target / name)
    shutil.copytree(repo / "src", target / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (target / "deploy").mkdir()
    shutil.copytree(wheels, target / "deploy" / "wheels", copy_function=_link_or_copy)
    return target


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)
