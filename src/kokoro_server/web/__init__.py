"""The browser UI: plain HTML, CSS and JavaScript modules in ``static/`` (no build step, nothing fetched
from the internet), served at ``/web`` by ``kokoro_server.api.routes.web``."""

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
