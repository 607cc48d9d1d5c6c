"""Tests that need something from outside Python (a browser, Ray, podman): skipped locally when it
is missing, a failure in CI (``CI=true``, set by ``.ci/run``, which installs it)."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(why: str) -> None:
    """Skip (locally) or fail (in CI) because ``why``."""
    if in_ci():
        pytest.fail(f"{why} (CI installs it: .ci/run)")
    pytest.skip(why)
