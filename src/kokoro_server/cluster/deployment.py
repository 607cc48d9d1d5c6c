"""The Serve deployment: one class, each replica serving the whole app (``create_app``) for both
model versions. Settings reach a replica as ``KOKORO_*`` variables in its ``runtime_env``."""

from __future__ import annotations

import asyncio
import logging
import socket

from ray import serve
from ray.serve.config import BackpressureConfig

from kokoro_server.api.app import create_app
from kokoro_server.api.state import Serving
from kokoro_server.builds import get_build
from kokoro_server.cluster.asgi import ReplicaApp
from kokoro_server.cluster.plan import DEPLOYMENT_NAME, RETRY_AFTER_S, ClusterPlan
from kokoro_server.api.serve import LOG_FORMAT
from kokoro_server.settings import Settings

PRELOAD_POLL_S = 0.1
BACKPRESSURE = BackpressureConfig(status_code=429, retry_after_s=RETRY_AFTER_S)


@serve.ingress()
class KokoroReplica:
    """One replica: the app, named by this replica's id; healthy once its preload is done."""

    def __init__(self) -> None:
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)  # our JSON access and synthesis lines
        for name in ("kokoro_server.access", "kokoro_server.synthesis"):
            logging.getLogger(name).setLevel(logging.INFO)
        context = serve.get_replica_context()
        self.replica = f"{socket.gethostname()}/{context.replica_id.unique_id}"
        self._app = create_app(Settings())

    def __serve_build_asgi_app__(self) -> ReplicaApp:
        return ReplicaApp(self._app, self.replica)

    @property
    def _serving(self) -> Serving | None:
        return getattr(self._app.state, "serving", None)

    async def check_health(self) -> None:
        """Serve's health check: waits for the preload (the first check, before any traffic), then
        fails while the default model cannot run."""
        while (state := self._serving) is None or not state.preload.done:
            await asyncio.sleep(PRELOAD_POLL_S)
        build = get_build(state.settings.default_model)
        status = await asyncio.to_thread(state.service.models.status, build)
        problems = dict(state.preload.problems)
        if not status.ready:
            problems[status.version] = status.problem or "not ready"
        if problems:
            raise RuntimeError(f"replica {self.replica} is not ready: {problems}")


def application(plan: ClusterPlan) -> serve.Application:
    """The deployment for ``plan``; Serve's own back-pressure answer (every replica full and the
    router's queue too) is a 429 with ``Retry-After`` (its proxy gives it our body: asgi.py)."""
    return serve.deployment(KokoroReplica).options(**plan.deployment_options(),
                                                   backpressure_config=BACKPRESSURE).bind()


def app_from_env(args: dict[str, str] | None = None) -> serve.Application:
    """Application builder for Serve config files (KubeRay's ``serveConfigV2``, ``serve run``): the
    replicas' settings come from the config's ``runtime_env``, their count and sizes from its
    ``deployments`` entry."""
    return serve.deployment(KokoroReplica, name=DEPLOYMENT_NAME, backpressure_config=BACKPRESSURE).bind()
