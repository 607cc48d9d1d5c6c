"""``kokoro-server serve``: the HTTP API under uvicorn (one process; inference runs in worker threads)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from kokoro_server.settings import Settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default: $KOKORO_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: $KOKORO_PORT or 8880)")
    parser.add_argument("--wyoming-port", type=int, help="also serve the Wyoming protocol (Home Assistant) on this "
                        "TCP port, e.g. 10200 (default: $KOKORO_WYOMING_PORT; off when unset)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from kokoro_server.api.app import create_app

    settings = server_settings(args)
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=args.log_level,
                log_config=None, access_log=False, timeout_graceful_shutdown=10)
    return 0


def server_settings(args: argparse.Namespace) -> Settings:
    """Settings with the command line's --data-dir, --host and --port over the environment's."""
    overrides: dict[str, object] = {"data_dir": Path(args.data_dir)} if args.data_dir else {}
    if args.host:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if getattr(args, "wyoming_port", None) is not None:
        overrides["wyoming_port"] = args.wyoming_port
    return Settings(**overrides)
