"""Tests that need something from outside the core install (a browser, Ray, podman, torch, onnx):
skipped locally when it is missing, a failure in CI (``CI=true``, set by ``.ci/run``, which installs
it)."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(why: str) -> None:
    """Skip (locally) or fail (in CI) because ``why``; also at a module's top level."""
    if in_ci():
        pytest.fail(f"{why} (CI installs it: .ci/run)")
    pytest.skip(why, allow_module_level=True)


def require_module(name: str, install: str) -> ModuleType:
    """``import name``; when it is not installed: a skip locally, a failure in CI (unlike
    ``pytest.importorskip``, which would skip silently in CI too). ``install`` says how to get it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"{name} is not installed ({exc}); {install}")
        raise  # not reached: missing() skips or fails
