"""Building and running the image with podman, offline: a Debian bookworm base made locally with
mmdebstrap and imported, and the dependencies as wheels built on the host (the build has no index).

Cached in ``$KOKORO_CONTAINER_CACHE`` (default ``~/.cache/kokoro-server/containers``) between runs:
the base tarball by name, the wheels by the SHA-256 of the project's runtime requirements (its
``dependencies`` and build requirements: a change to the test extras does not rebuild them), and the
image by the SHA-256 of its build context (sources, Dockerfile, wheels, base): an unchanged tree is
not built again. Everything goes through one lock, so a preparation started ahead of the tests
(``python -m tests.support.container prepare``, what ``.ci/run`` runs in the background while the
other tests run) and the container test never build the same thing twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CACHE = Path(os.environ.get("KOKORO_CONTAINER_CACHE", Path.home() / ".cache" / "kokoro-server" / "containers"))
BASE_IMAGE = "localhost/kokoro-base:bookworm"
BASE_PACKAGES = "python3,python3-venv,ca-certificates,libstdc++6,libgomp1"
IMAGE = "localhost/kokoro-server"
REPO = Path(__file__).resolve().parents[2]
# Known pitfalls of podman on these machines: crun and systemd cgroups do not work, limits must be given.
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
# runc may only lower limits: this process's open-file limit, and a modest process count.
_NOFILE = resource.getrlimit(resource.RLIMIT_NOFILE)
LIMITS = ["--ulimit", f"nofile={_NOFILE[0]}:{_NOFILE[1]}", "--ulimit", "nproc=4096:4096"]
TOOLS = ("podman", "mmdebstrap", "runc")
KEEP_IMAGES = 3  # test images of different trees kept (other checkouts share the podman store)


def podman(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


@contextmanager
def cache_lock() -> Iterator[None]:
    """One builder at a time (the background preparation, the test, another checkout's run)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


def runtime_requirements(repo: Path) -> list[str]:
    """What the image installs: the project's dependencies and what building it needs."""
    project = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    return sorted(project["project"].get("dependencies", [])) + sorted(project["build-system"]["requires"])


def dependency_wheels(repo: Path) -> Path:
    """Wheels of every dependency of the project (and of its build), for ``pip install --no-index``;
    pip's own cache serves what the test environment's install already downloaded."""
    key = hashlib.sha256(json.dumps(runtime_requirements(repo)).encode()).hexdigest()[:12]
    folder = CACHE / f"wheels-{key}"
    if folder.is_dir():
        return folder
    partial = CACHE / f"wheels-{key}.part"
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--prefer-binary", "--wheel-dir", str(partial),
                    str(repo), "setuptools", "wheel"], check=True, capture_output=True, timeout=1800)
    for own in partial.glob("kokoro_server-*.whl"):
        own.unlink()  # the image installs the project from its sources
    partial.replace(folder)
    return folder


CONTEXT_FILES = ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md")


def build_context(repo: Path, wheels: Path, target: Path) -> Path:
    """What `docker build .` sees in a checkout, with deploy/wheels/ filled (hard links when possible)."""
    for name in CONTEXT_FILES:
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


def context_digest(repo: Path, wheels: Path, base: str) -> str:
    """The image's tag: a digest of everything the build reads (sources, Dockerfile, wheels, base)."""
    digest = hashlib.sha256(podman("image", "inspect", "--format", "{{.Id}}", base).stdout.strip().encode())
    files = [repo / name for name in CONTEXT_FILES]
    files += sorted(p for p in (repo / "src").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update("\n".join(sorted(p.name for p in wheels.iterdir())).encode())
    return digest.hexdigest()[:16]


def image(repo: Path = REPO) -> str:
    """The CPU image of ``repo``, built unless an identical build context was built before."""
    with cache_lock():
        base = base_image()
        wheels = dependency_wheels(repo)
        tag = f"{IMAGE}:test-{context_digest(repo, wheels, base)}"
        if podman("image", "exists", tag, check=False).returncode == 0:
            return tag
        with tempfile.TemporaryDirectory(prefix="kokoro-image-") as folder:
            context = build_context(repo, wheels, Path(folder))
            podman("build", "--format", "docker", "--build-arg", f"BASE={base}", "--build-arg",
                   "PIP_ARGS=--no-index", "-t", tag, str(context), timeout=1800)
        built = podman("images", "--sort", "created", "--format", "{{.Repository}}:{{.Tag}}", IMAGE,
                       check=False).stdout.split()
        for old in [t for t in built if t.startswith(f"{IMAGE}:test-") and t != tag][KEEP_IMAGES - 1:]:
            podman("rmi", old, check=False)  # images of older trees (newest first): a few are kept
        return tag


def main(argv: list[str]) -> int:
    """``prepare``: build (or find) the image ahead of the tests, e.g. in the background in CI."""
    if argv != ["prepare"]:
        print("usage: python -m tests.support.container prepare", file=sys.stderr)
        return 2
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        print(f"not preparing the image: {', '.join(missing)} missing", file=sys.stderr)
        return 1
    started = time.monotonic()
    tag = image()
    print(f"{tag} ready in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
