"""A model file derived from the one in ``models/<version>/`` by ``kokoro-server optimize``.

``kokoro-v1_0-int8.onnx`` -> ``kokoro-v1_0-int8.optimized.onnx`` plus ``….optimized.json``, a manifest
naming the recipe, the source file's size, mtime and SHA-256, the derived file's size and SHA-256
and the quality check it passed. The engine runs the derived file instead of its source only while
the manifest's recipe is the current one, the source is unchanged and the derived file's bytes
verify; otherwise it logs why and runs the source. Nothing here needs the ``onnx`` package.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kokoro_server.files import file_sha256, unchanged, write_atomic

log = logging.getLogger("kokoro_server.engine")

RECIPE = "calibrated-int8/1"  # issue 24: judged by the quality bar (optimize/command.py)
"""What ``kokoro-server optimize`` does; bumping it retires files made by an older recipe."""


def derived_path(source: Path) -> Path:
    return source.with_name(f"{source.stem}.optimized.onnx")


def manifest_path(source: Path) -> Path:
    return source.with_name(f"{source.stem}.optimized.json")


@dataclass
class DerivedManifest:
    recipe: str
    source_file: str
    source_size: int
    source_mtime_ns: int
    source_sha256: str
    size: int
    sha256: str
    quality: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def read_manifest(source: Path) -> DerivedManifest | None:
    try:
        data = json.loads(manifest_path(source).read_text(encoding="utf-8"))
        return DerivedManifest(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        log.warning("%s is unreadable; running %s", manifest_path(source), source.name)
        return None


def usable_derived(source: Path) -> Path | None:
    """The verified derived model of ``source``, or None (with the reason logged) to run ``source``."""
    manifest = read_manifest(source)
    if manifest is None:
        return None
    derived = derived_path(source)
    problem = None
    try:
        if manifest.recipe != RECIPE:
            problem = f"it was made by another recipe ({manifest.recipe})"
        elif not unchanged(source, manifest.source_size, manifest.source_mtime_ns, manifest.source_sha256):
            problem = f"{source.name} changed since"
        elif derived.stat().st_size != manifest.size or file_sha256(derived) != manifest.sha256:
            problem = "it is corrupt (size or SHA-256 differ)"
    except OSError as exc:
        problem = f"it cannot be read ({exc.strerror})"
    if problem is None:
        return derived
    log.warning("not using %s: %s; running %s (run `kokoro-server optimize` again)", derived.name, problem, source.name)
    return None


def install(source: Path, data: bytes, quality: dict[str, object]) -> Path:
    """Write the derived model and its manifest atomically (model first: a manifest is never ahead)."""
    derived = derived_path(source)
    manifest_path(source).unlink(missing_ok=True)
    write_atomic(derived, data)
    stat = source.stat()
    manifest = DerivedManifest(RECIPE, source.name, stat.st_size, stat.st_mtime_ns, file_sha256(source),
                               len(data), file_sha256(derived), quality)
    write_atomic(manifest_path(source), manifest.to_json().encode())
    return derived
