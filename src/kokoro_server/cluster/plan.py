"""How a cluster is sized: replicas, their resources and settings, Serve's admission and autoscaling.

Admission is split between Serve's router and each replica's own runner so that the router spreads
requests: a replica admits ``concurrency`` syntheses plus ``queue`` waiting ones (its runner answers
429 beyond that, with our error body and ``Retry-After``), and Serve may send it ``LIGHT_REQUESTS``
more at once (voice lists, downloads, the web page, a quick 429), so ``max_ongoing_requests`` =
concurrency + queue + light. The router sends each request to the less loaded of two replicas, so
requests go to an idle replica before they wait inside a busy one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kokoro_server.settings import Settings

APP_NAME = "kokoro"
DEPLOYMENT_NAME = "Kokoro"
LIGHT_REQUESTS = 2  # Serve's slots per replica beyond its syntheses: cheap routes and quick 429s
ROUTER_QUEUE_PER_REPLICA = 2  # requests Serve's router may hold (per proxy) when every replica is full
RETRY_AFTER_S = 2  # Serve's own back-pressure answer (rare: see above)
HEALTH_CHECK_TIMEOUT_S = 300  # the first check waits for the replica's preload (first start: model assembly)
DOWNLOADS_FOLDER = "downloads"


@dataclass(frozen=True)
class ClusterPlan:
    replicas: int | None = 1  # fixed count; None = autoscaling between min and max
    min_replicas: int = 1
    max_replicas: int = 1
    threads: int = 1  # CPU cores (and inference threads) per replica
    gpus: float = 0.0  # GPUs per replica (torch backend on CUDA when > 0)
    settings: Settings = field(default_factory=Settings)
    environ: Mapping[str, str] = field(default_factory=dict)  # KOKORO_* the user set

    def __post_init__(self) -> None:
        if self.replicas is not None and self.replicas < 1:
            raise ValueError("--replicas must be at least 1")
        if not (0 <= self.min_replicas <= self.max_replicas) or self.max_replicas < 1:
            raise ValueError("need 0 <= --min-replicas <= --max-replicas and --max-replicas >= 1")
        if self.threads < 1 or self.gpus < 0:
            raise ValueError("--threads-per-replica must be at least 1 and --gpus-per-replica at least 0")

    # -- one replica -----------------------------------------------------------------------
    @property
    def concurrency(self) -> int:
        """Syntheses a replica runs at once: KOKORO_CONCURRENCY if the user set it, else one."""
        return int(self.environ.get("KOKORO_CONCURRENCY") or 0) or 1

    @property
    def queue(self) -> int:
        """Syntheses waiting inside a replica: KOKORO_QUEUE_SIZE if set, else one per running one."""
        given = self.environ.get("KOKORO_QUEUE_SIZE")
        return int(given) if given else self.concurrency

    @property
    def max_ongoing_requests(self) -> int:
        return self.concurrency + self.queue + LIGHT_REQUESTS

    @property
    def download_dir(self) -> Path:
        return self.settings.download_dir or self.settings.data_dir / DOWNLOADS_FOLDER

    def replica_env(self) -> dict[str, str]:
        """The replica's settings, as the KOKORO_* environment its ``Settings()`` reads."""
        # not KOKORO_WYOMING_PORT: every replica would bind it (run `serve --wyoming-port` beside the cluster)
        env = {k: v for k, v in self.environ.items() if k.startswith("KOKORO_") and k != "KOKORO_WYOMING_PORT"}
        env.update({
            "KOKORO_DATA_DIR": str(self.settings.data_dir.resolve()),
            "KOKORO_THREADS": str(self.threads),
            "KOKORO_CONCURRENCY": str(self.concurrency),
            "KOKORO_QUEUE_SIZE": str(self.queue),
            "KOKORO_DOWNLOAD_DIR": str(self.download_dir.resolve()),
            "KOKORO_PRELOAD": env.get("KOKORO_PRELOAD") or self.settings.default_model,
        })
        if "KOKORO_SESSIONS" not in env:
            env["KOKORO_SESSIONS"] = str(self.concurrency)
        if self.gpus > 0:
            env.update({"KOKORO_BACKEND": "torch", "KOKORO_DEVICE": "cuda"})
        return env

    def ray_actor_options(self) -> dict[str, object]:
        options: dict[str, object] = {"num_cpus": self.threads, "runtime_env": {"env_vars": self.replica_env()}}
        if self.gpus > 0:
            options["num_gpus"] = self.gpus
        return options

    # -- the deployment --------------------------------------------------------------------
    def deployment_options(self) -> dict[str, object]:
        most = self.replicas or self.max_replicas
        options: dict[str, object] = {
            "name": DEPLOYMENT_NAME,
            "max_ongoing_requests": self.max_ongoing_requests,
            "max_queued_requests": ROUTER_QUEUE_PER_REPLICA * most,
            "ray_actor_options": self.ray_actor_options(),
            "health_check_period_s": 10,
            "health_check_timeout_s": HEALTH_CHECK_TIMEOUT_S,
            "graceful_shutdown_timeout_s": 20,
        }
        if self.replicas is not None:
            options["num_replicas"] = self.replicas
        else:
            options["autoscaling_config"] = {
                "min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
                "initial_replicas": max(1, self.min_replicas),
                # scale on syntheses in progress: a replica busy with all its slots asks for another
                "target_ongoing_requests": self.concurrency,
                "upscale_delay_s": 5, "downscale_delay_s": 60,
            }
        return options

    def describe(self) -> str:
        count = f"{self.replicas}" if self.replicas is not None else f"{self.min_replicas}-{self.max_replicas}"
        device = f"{self.gpus:g} GPU + {self.threads} CPU" if self.gpus else f"{self.threads} CPU"
        return (f"{count} replica(s) x {device}, {self.concurrency} synthesis at once + {self.queue} waiting "
                f"each (Serve: max_ongoing_requests={self.max_ongoing_requests})")


def total_cpus(plan: ClusterPlan) -> int:
    """CPUs a local Ray needs for the largest deployment of ``plan``."""
    return math.ceil(plan.threads * (plan.replicas or plan.max_replicas))
