"""``kokoro-server cluster``: start a local Ray (or join one), serve the app through Ray Serve, and on
Ctrl-C or SIGTERM stop what this command started: its application, Serve if it started it, the
local Ray if it started one (nothing else on a cluster it joined)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from types import FrameType

from kokoro_server.cluster.plan import APP_NAME, ClusterPlan
from kokoro_server.errors import KokoroError
from kokoro_server.api.serve import LOG_FORMAT, server_settings
from kokoro_server.settings import Settings

PROXY_CALLBACK_ENV = "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"
SERVE_CONTROLLER = "SERVE_CONTROLLER_ACTOR"
INSTALL_HINT = "kokoro-server cluster needs Ray Serve: pip install 'kokoro-server[ray]'"


class ClusterError(KokoroError):
    """The cluster cannot be started as asked (a CLI message, exit status 2)."""


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    count = parser.add_mutually_exclusive_group()
    count.add_argument("--replicas", type=int, help="a fixed number of replicas (default: 1)")
    count.add_argument("--min-replicas", type=int, help="autoscaling: fewest replicas (with --max-replicas)")
    parser.add_argument("--max-replicas", type=int, help="autoscaling: most replicas")
    parser.add_argument("--threads-per-replica", type=int, default=1,
                        help="CPU cores Ray gives each replica, and its inference threads (default: 1)")
    parser.add_argument("--gpus-per-replica", type=float, default=0.0,
                        help="GPUs per replica (> 0: the torch backend on CUDA)")
    parser.add_argument("--address", help="join a running Ray cluster: auto or HOST:PORT (default: start a "
                                          "local Ray for this command)")
    parser.add_argument("--num-cpus", type=int, help="CPUs of the local Ray this command starts (default: all)")
    parser.add_argument("--host", help="address Serve listens on (default: $KOKORO_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: $KOKORO_PORT or 8880)")
    parser.set_defaults(func=cmd_cluster)


def plan_from_args(args: argparse.Namespace, settings: Settings) -> ClusterPlan:
    if args.min_replicas is not None or args.max_replicas is not None:
        if args.replicas is not None:
            raise ClusterError("give either --replicas or --min-replicas/--max-replicas")
        low = args.min_replicas if args.min_replicas is not None else 1
        high = args.max_replicas if args.max_replicas is not None else max(low, 1)
        sizes: dict[str, int | None] = {"replicas": None, "min_replicas": low, "max_replicas": high}
    else:
        sizes = {"replicas": args.replicas or 1}
    try:
        return ClusterPlan(**sizes, threads=args.threads_per_replica, gpus=args.gpus_per_replica,  # type: ignore[arg-type]
                           settings=settings, environ=dict(os.environ))
    except ValueError as exc:
        raise ClusterError(str(exc)) from None


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def cmd_cluster(args: argparse.Namespace) -> int:
    # every replica's log lines, not "[repeated 2x across cluster]" (read when ray is imported)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    try:
        import ray
        from ray import serve
    except ImportError:
        raise ClusterError(INSTALL_HINT) from None
    settings = server_settings(args)
    plan = plan_from_args(args, settings)
    plan.download_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    local = args.address is None
    if local:
        from kokoro_server.cluster.asgi import PROXY_CALLBACK  # FastAPI's stack: not for every CLI start

        os.environ.setdefault(PROXY_CALLBACK_ENV, PROXY_CALLBACK)  # the local Ray's proxy inherits it
        needed = plan.threads * (plan.replicas or max(1, plan.min_replicas))
        available = args.num_cpus or os.cpu_count() or 1
        if needed > available:
            raise ClusterError(f"{plan.describe()} needs {needed} CPUs; the local Ray has {available} "
                               "(--num-cpus), so replicas would never start")
    serve_started = False
    try:
        ray.init(address=args.address, num_cpus=args.num_cpus if local else None, include_dashboard=False,
                 logging_level=logging.WARNING, namespace="kokoro-server")
        signal.signal(signal.SIGTERM, _stop_on_sigterm)  # after ray.init, which installs its own handler
        serve_started = not _serve_running(ray)
        serve.start(http_options={"host": settings.host, "port": settings.port})
        from kokoro_server.cluster.deployment import application

        print(f"kokoro-server: starting {plan.describe()} on "
              f"{'a local Ray' if local else 'the Ray cluster at ' + args.address}", file=sys.stderr, flush=True)
        serve.run(application(plan), name=APP_NAME, route_prefix="/",
                  logging_config={"enable_access_log": False})  # the replicas log their own JSON lines
        print(f"kokoro-server: serving on http://{settings.host}:{settings.port} (Ctrl-C stops)",
              file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("kokoro-server: stopping the cluster", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
        _stop(ray, serve, local=local, serve_started=serve_started)
    return 0


def _serve_running(ray: object) -> bool:
    try:
        ray.get_actor(SERVE_CONTROLLER, namespace="serve")  # type: ignore[attr-defined]
    except ValueError:
        return False
    return True


def _stop(ray: object, serve: object, *, local: bool, serve_started: bool) -> None:
    if not ray.is_initialized():  # type: ignore[attr-defined]
        return
    try:
        if serve_started or local:
            serve.shutdown()  # type: ignore[attr-defined]
        else:
            serve.delete(APP_NAME)  # type: ignore[attr-defined]
    finally:
        ray.shutdown()  # type: ignore[attr-defined]  # a local Ray this command started stops with it
