"""What a build's download manifest says: where each of its files lives on the Hugging Face hub.

Each build folder holds its own manifest (``builds/<version>/downloads.py``: repositories, pinned
commits, SHA-256 digests); these are the types it is written in. Facts only: a digest is trusted
only at the pinned revision it was read from (with ``--revision`` the hub's own headers are the
only check).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

WEIGHT_CHOICES = ("pth", "onnx", "onnx-int8")
"""The ``download --weights`` kinds a manifest may offer (each build says which it has)."""


@dataclass(frozen=True)
class HubFile:
    """One file of a hub repository and where it goes in the data dir."""

    repo: str
    revision: str
    path: str  # inside the repository
    folder: str  # "models" or "voices"
    name: str  # file name in <data dir>/<folder>/<version>/
    sha256: str | None = None  # known digest of the file at ``revision``
    size: int | None = None

    def at(self, revision: str | None) -> HubFile:
        """The same file at another revision: what we know about this one no longer applies."""
        if revision is None or revision == self.revision:
            return self
        return HubFile(self.repo, revision, self.path, self.folder, self.name)

    @property
    def is_voice(self) -> bool:
        return self.folder == "voices"


@dataclass(frozen=True)
class DownloadManifest:
    """A version's files on the hub: config, weights by kind, voices (what ``--voices all`` means)."""

    repo: str
    revision: str
    voice_sha256: Mapping[str, str]  # every published voice and its digest
    weights: Mapping[str, HubFile]  # by --weights kind: "pth", "onnx", "onnx-int8"
    default_weights: str | None  # what a plain ``download -m VERSION`` fetches (None: nothing needed)
    voice_ext: str = ".pt"
    notes: Mapping[str, str] = field(default_factory=dict)  # why a --weights kind is not offered

    @property
    def voices(self) -> tuple[str, ...]:
        return tuple(self.voice_sha256)

    def config(self) -> HubFile:
        return HubFile(self.repo, self.revision, "config.json", "models", "config.json")

    def voice(self, name: str) -> HubFile:
        return HubFile(self.repo, self.revision, f"voices/{name}{self.voice_ext}", "voices",
                       f"{name}{self.voice_ext}", sha256=self.voice_sha256.get(name))

    def weights_kind(self, file_name: str) -> str | None:
        """The ``--weights`` kind that fetches ``models/<version>/<file_name>``, if any."""
        return next((kind for kind, file in self.weights.items() if file.name == file_name), None)
