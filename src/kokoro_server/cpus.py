"""How many cores this process may use: the one number thread and session counts follow.

``os.cpu_count()`` counts every core of the host, also inside a container or a Ray replica limited
to a few. The cores this process may run on are its CPU affinity (``taskset``, cpusets) capped by a
cgroup CPU quota: v2 ``cpu.max`` (``"<quota> <period>"`` or ``"max ..."``) or v1
``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, in the process's own cgroup and every one above it. A
quota of 1.5 cores counts as 2 (threads beyond it are throttled, not idle).
"""

from __future__ import annotations

import hashlib
import math
import os
import platform
from functools import lru_cache
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def usable_cores(*, cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """The cores this process may use (at least 1); the paths are parameters for testing."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root, proc_cgroup)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def cgroup_cpu_quota(cgroup_root: Path, proc_cgroup: Path) -> float | None:
    """The tightest CPU quota (in cores) of this process's cgroup and its ancestors, or None."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    quotas = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "" and path:  # v2: "0::/path", one unified hierarchy
            quotas += [q for folder in _ancestors(cgroup_root, path) if (q := _v2_quota(folder)) is not None]
        elif "cpu" in controllers.split(","):  # v1: "N:cpu,cpuacct:/path", mounted under that name
            for mount in (cgroup_root / controllers, cgroup_root / "cpu", cgroup_root / "cpu,cpuacct"):
                found = [q for folder in _ancestors(mount, path) if (q := _v1_quota(folder)) is not None]
                if found:
                    quotas += found
                    break
    return min(quotas) if quotas else None


def _ancestors(mount: Path, path: str) -> list[Path]:
    """``mount/path`` and each folder above it up to ``mount`` (inside a container the process's
    path may not exist under the mount, whose root is then the container's own cgroup)."""
    parts = [p for p in path.strip("/").split("/") if p and p != ".."]
    return [mount.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]


def _v2_quota(folder: Path) -> float | None:
    try:
        fields = (folder / "cpu.max").read_text().split()
    except OSError:
        return None
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _v1_quota(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


@lru_cache(maxsize=1)
def cpu_kind() -> str:
    """The CPU architecture and its feature flags (as a short digest): what derived model files and
    onnxruntime's saved graphs are valid for (kernel and layout choices follow the flags)."""
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(("flags", "Features")):
                flags = " ".join(sorted(line.split(":", 1)[1].split()))
                break
    except OSError:
        flags = platform.processor()
    return f"{platform.machine()}-{hashlib.sha256(flags.encode()).hexdigest()[:12]}"
