"""The cluster's pure parts, without Ray: replica sizing, Serve's refusals in our error shape, and the
download folder that replicas share."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from kokoro_server.audio.encoders import get_format
from kokoro_server.cluster.asgi import serve_error_body
from kokoro_server.cluster.plan import LIGHT_REQUESTS, ClusterPlan
from kokoro_server.serving.download_links import DownloadStore
from kokoro_server.errors import NotFoundError
from kokoro_server.settings import Settings


def test_cpu_replicas_get_their_cores_as_threads_and_a_small_admission(tmp_path: Path):
    plan = ClusterPlan(replicas=2, threads=3, settings=Settings(data_dir=tmp_path),
                       environ={"KOKORO_API_KEYS": "k", "PATH": "/bin"})
    env = plan.ray_actor_options()["runtime_env"]["env_vars"]  # type: ignore[index]
    assert plan.ray_actor_options()["num_cpus"] == 3 and "num_gpus" not in plan.ray_actor_options()
    assert env["KOKORO_THREADS"] == "3" and env["KOKORO_CONCURRENCY"] == "1" and env["KOKORO_QUEUE_SIZE"] == "1"
    assert env["KOKORO_API_KEYS"] == "k" and "PATH" not in env and env["KOKORO_PRELOAD"] == "v1_0"
    assert env["KOKORO_DOWNLOAD_DIR"] == str((tmp_path / "downloads").resolve())
    options = plan.deployment_options()
    assert options["num_replicas"] == 2 and options["max_ongoing_requests"] == 1 + 1 + LIGHT_REQUESTS


def test_gpu_replicas_run_torch_on_cuda_and_autoscaling_targets_the_synthesis_slots(tmp_path: Path):
    plan = ClusterPlan(replicas=None, min_replicas=0, max_replicas=4, gpus=0.5, settings=Settings(data_dir=tmp_path),
                       environ={"KOKORO_CONCURRENCY": "2", "KOKORO_QUEUE_SIZE": "3"})
    env = plan.replica_env()
    assert plan.ray_actor_options()["num_gpus"] == 0.5
    assert env["KOKORO_BACKEND"] == "torch" and env["KOKORO_DEVICE"] == "cuda"
    scaling = plan.deployment_options()["autoscaling_config"]
    assert scaling["max_replicas"] == 4 and scaling["target_ongoing_requests"] == 2  # type: ignore[index]
    assert plan.max_ongoing_requests == 2 + 3 + LIGHT_REQUESTS
    with pytest.raises(ValueError):
        ClusterPlan(replicas=None, min_replicas=3, max_replicas=2)


def test_serves_own_refusals_get_the_openai_error_shape():
    busy = json.loads(serve_error_body(429, "Request dropped due to backpressure (num_queued_requests=4, "
                                            "max_queued_requests=4)."))["error"]
    assert busy["type"] == "rate_limit_error" and busy["code"] == "queue_full" and "backpressure" in busy["message"]
    down = json.loads(serve_error_body(503, "Deployment 'Kokoro' is unavailable."))["error"]
    assert down["type"] == "server_error" and down["code"] == "unavailable"


def test_a_shared_download_folder_serves_every_replicas_files_until_they_expire(tmp_path: Path):
    one = DownloadStore(tmp_path, ttl_s=60, max_bytes=10_000, shared=True)
    other = DownloadStore(tmp_path, ttl_s=60, max_bytes=10_000, shared=True)
    writer = one.open(get_format("mp3"))
    writer.write(b"mp3 bytes")
    with pytest.raises(NotFoundError):
        other.get(writer.name)  # not published yet: its .part file is not served
    writer.finish()
    found = other.get(writer.name)
    assert found.path.read_bytes() == b"mp3 bytes" and found.content_type == "audio/mpeg"
    with pytest.raises(NotFoundError):
        other.get("../" + writer.name)
    other.close()
    assert one.get(writer.name).size == 9  # closing a store deletes only its own files
    old = time.time() - 120
    os.utime(tmp_path / writer.name, (old, old))
    assert other.purge() == 1 and not (tmp_path / writer.name).exists()
    one.close()
    assert tmp_path.is_dir()
