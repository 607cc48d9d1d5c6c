"""What the server takes from the machine: threads and sessions follow the cores this process may
use (CPU affinity, cgroup quota), and ``KOKORO_MODEL_TTL_S`` frees an idle version's weights."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kokoro_server.cpus import cgroup_cpu_quota, usable_cores
from tests.support.audio import assert_speech_like, decode
from tests.support.server import ServerThread, writable_data_dir

AFFINITY = sorted(os.sched_getaffinity(0))


def machine_cores() -> int:
    """The cores this process may use, read here on its own (not with kokoro_server.cpus): the CPU
    affinity, capped by the tightest CPU quota of this process's cgroup and those above it (v2
    ``cpu.max``; v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``), rounded up."""
    quotas = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: at the mount root, or under unified/ beside v1 controllers
            mounts = [Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")]
            files = ("cpu.max",)
        elif "cpu" in controllers.split(","):
            mounts = [Path("/sys/fs/cgroup") / controllers, Path("/sys/fs/cgroup/cpu")]
            files = ("cpu.cfs_quota_us", "cpu.cfs_period_us")
        else:
            continue
        parts = [p for p in path.split("/") if p]
        for mount in mounts:
            for depth in range(len(parts), -1, -1):  # this cgroup and each one above it
                folder = mount.joinpath(*parts[:depth])
                try:
                    values = " ".join((folder / name).read_text() for name in files).split()
                    quota, period = int(values[0]), int(values[1])
                except (OSError, ValueError, IndexError):
                    continue
                if quota > 0 and period > 0:
                    quotas.append(quota / period)
    return min([len(AFFINITY)] + [math.ceil(q) for q in quotas])


def cgroup(tmp_path: Path, proc_lines: str, files: dict[str, str]) -> dict[str, Path]:
    """A cgroup tree and a /proc/self/cgroup file as the kernel lays them out."""
    root = tmp_path / "sys-fs-cgroup"
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(content)
    root.mkdir(exist_ok=True)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(proc_lines)
    return {"cgroup_root": root, "proc_cgroup": proc}


@pytest.mark.parametrize("proc_lines, files, quota", [
    ("0::/\n", {"cpu.max": "100000 100000\n"}, 1.0),  # a container with one core (cgroup namespace)
    ("0::/kubepods/pod1/app\n", {"kubepods/pod1/app/cpu.max": "max 100000\n",
                                 "kubepods/pod1/cpu.max": "150000 100000\n"}, 1.5),  # set above
    ("0::/kubepods/pod1/app\n", {"kubepods/pod1/app/cpu.max": "300000 100000\n",
                                 "kubepods/pod1/cpu.max": "250000 100000\n"}, 2.5),  # the tightest counts
    ("0::/user.slice\n", {"user.slice/cpu.max": "max 100000\n"}, None),  # no limit
    ("0::/docker/abc\n", {"cpu.max": "50000 100000\n"}, 0.5),  # path not under the mount: its root counts
    ("4:memory:/x\n2:cpu,cpuacct:/docker/abc\n", {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "400000\n",
                                                  "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n"}, 4.0),
    ("1:cpu:/\n", {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),  # v1, none
    ("0::/\n", {"cpu.max": "garbage\n"}, None),
])
def test_cgroup_quota_caps_the_cores(tmp_path: Path, proc_lines: str, files: dict[str, str],
                                     quota: float | None) -> None:
    """The quota itself (whatever this machine has), then the cores: the affinity capped by it."""
    where = cgroup(tmp_path, proc_lines, files)
    assert cgroup_cpu_quota(where["cgroup_root"], where["proc_cgroup"]) == quota
    expected = len(AFFINITY) if quota is None else max(1, min(math.ceil(quota), len(AFFINITY)))
    assert usable_cores(**where) == expected


def test_cpu_affinity_decides_threads_and_sessions() -> None:
    probe = ("from kokoro_server.cpus import usable_cores; from kokoro_server.settings import Settings; "
             "from kokoro_server.engine.onnx_runtime import session_layout; s = Settings(); "
             "print(usable_cores(), s.concurrency, session_layout(0, 0, s.concurrency))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOKORO_")}
    one = subprocess.run(["taskset", "-c", str(AFFINITY[0]), sys.executable, "-c", probe], env=env,
                         capture_output=True, text=True, timeout=60)
    assert one.returncode == 0, one.stderr
    assert one.stdout.split()[:2] == ["1", "1"] and "sessions=1, threads=1, wide_threads=0" in one.stdout
    assert usable_cores() == machine_cores()  # this process: affinity and any cgroup quota


# -- KOKORO_MODEL_TTL_S through the real server -----------------------------------------------------

TTL_S = 3.0  # long enough that no check below races the sweep on a busy machine


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from kokoro_server.settings import Settings

    root = writable_data_dir(tmp_path_factory.mktemp("ttl-data"), data_dir)
    running = ServerThread(Settings(data_dir=root, threads=2, concurrency=1, model_ttl_s=TTL_S)).start()
    yield running
    running.stop()


def model_status(http: httpx.Client) -> str:
    return http.get("/v1/models/kokoro").json()["status"]


def speak(http: httpx.Client, text: str) -> None:
    """Spanish: espeak's front end loads in a fraction of the time of the English one."""
    response = http.post("/v1/audio/speech", json={"input": text, "voice": "ef_dora", "response_format": "wav"})
    assert response.status_code == 200, response.text
    audio, _ = decode(response.content)
    assert_speech_like(audio, min_seconds=0.3, max_seconds=6.0)


def test_idle_model_is_unloaded_after_the_ttl_and_loads_again(server: ServerThread) -> None:
    with httpx.Client(base_url=server.url, timeout=120) as http:
        speak(http, "Hola, buenos días.")
        assert model_status(http) == "loaded"
        deadline = time.monotonic() + TTL_S + 10
        while model_status(http) == "loaded" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert model_status(http) == "ready"
        speak(http, "Hola otra vez.")
        assert model_status(http) == "loaded"


def test_a_model_in_use_is_never_unloaded(server: ServerThread) -> None:
    """A stream longer than the TTL keeps its model: it is held from its first chunk to its last."""
    models = server.serving.service.models
    with models.hold("v1_0") as model:
        assert models.unload_idle(0) == []
        time.sleep(TTL_S + 1)  # the server's own sweeps run meanwhile
        assert models.status(model.build).loaded
    assert models.unload_idle(0) == ["v1_0"] and not models.status(model.build).loaded
