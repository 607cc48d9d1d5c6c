"""The voices installed for each model version, resolved by name or mix, with a cache."""

from __future__ import annotations

import difflib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kokoro_server.builds import BUILDS, Build
from kokoro_server.datadir import DataDir, download_hint
from kokoro_server.errors import FileProblemError, VoiceNotFoundError, quote
from kokoro_server.voices.mix import VoiceMix, parse_mix
from kokoro_server.voices.packs import (BUNDLE_SUFFIXES, PACK_SUFFIXES, read_bundle, read_pack_file,
                                        validate_pack)

GENDERS = {"f": "female", "m": "male"}


@dataclass(frozen=True)
class VoiceInfo:
    name: str
    version: str
    language: str  # one-letter Kokoro code
    language_name: str
    gender: str  # female | male | unknown
    file: str
    supported: bool  # the build has an offline text front end for its language

    @property
    def id(self) -> str:
        return self.name


class VoiceLibrary:
    """Lists and loads voice packs from ``voices/<version>/``; caches packs and mixes (LRU)."""

    def __init__(self, data_dir: DataDir, cache_size: int = 64) -> None:
        self._data_dir = data_dir
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._rows_to_version = {b.voice_rows: b.version for b in BUILDS.values()}
        self._listings: dict[str, tuple[int | None, dict[str, Path]]] = {}

    # -- listing ---------------------------------------------------------------------------
    def _files(self, build: Build) -> dict[str, Path]:
        """Voice name -> file: the data dir's voices over any the build embeds from PyPI.

        Re-read only when the folder changes (which also drops that version's cached packs).
        """
        folder = self._data_dir.voices_dir(build)
        try:
            stamp: int | None = folder.stat().st_mtime_ns
        except OSError:
            stamp = None
        cached = self._listings.get(build.version)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        found = self._embedded(build)
        if stamp is not None:
            found.update(self._scan(folder))
        with self._lock:
            self._listings[build.version] = (stamp, found)
            for key in [k for k in self._cache if k[0] == build.version]:
                del self._cache[key]
        return found

    @staticmethod
    def _embedded(build: Build) -> dict[str, Path]:
        path = build.embedded_voices.path() if build.embedded_voices else None
        if path is None:
            return {}
        return {name: path for name in read_bundle(path)}

    @staticmethod
    def _scan(folder: Path) -> dict[str, Path]:
        """Single packs win over bundle entries of the same name."""
        found: dict[str, Path] = {}
        entries = sorted(folder.iterdir())
        for path in entries:
            if path.suffix in BUNDLE_SUFFIXES and path.is_file():
                try:
                    for name in read_bundle(path):
                        found.setdefault(name, path)
                except FileProblemError:
                    continue  # listed as nothing; loading by name reports it
        for path in entries:
            if path.suffix in PACK_SUFFIXES and path.is_file() and not path.name.startswith("."):
                found[path.stem] = path
        return found

    def list(self, build: Build) -> list[VoiceInfo]:
        infos = []
        for name, path in sorted(self._files(build).items()):
            lang = build.language_of_voice(name)
            infos.append(VoiceInfo(
                name=name, version=build.version, language=name[:1],
                language_name=lang.name if lang else "unknown",
                gender=GENDERS.get(name[1:2], "unknown"), file=str(path),
                supported=bool(lang and lang.supported)))
        return infos

    def has(self, build: Build, name: str) -> bool:
        return name in self._files(build)

    # -- loading ---------------------------------------------------------------------------
    def load(self, build: Build, name: str) -> np.ndarray:
        key = (build.version, name)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        pack = self._read(build, name)
        self._remember(key, pack)
        return pack

    def _read(self, build: Build, name: str) -> np.ndarray:
        files = self._files(build)
        path = files.get(name)
        if path is None:
            raise self.not_found(build, name)
        array = read_bundle(path)[name] if path.suffix in BUNDLE_SUFFIXES else read_pack_file(path)
        return validate_pack(array, rows=build.voice_rows, version=build.version, source=str(path),
                             versions_by_rows=self._rows_to_version)

    def not_found(self, build: Build, name: str) -> VoiceNotFoundError:
        """The error for a voice that is not installed: where it was looked for, what is installed, and
        the download command if the name is published, else the closest real names."""
        folder = self._data_dir.voices_dir(build)
        known = sorted(self._files(build))
        published = list(build.downloads.voices) if build.downloads is not None else []
        hint = f"; installed: {', '.join(known[:12])}{' …' if len(known) > 12 else ''}" if known else \
            "; no voices are installed"
        if name in published:
            hint += f" (to fetch it: {download_hint(build, f'--voices {name}')})"
        else:
            close = difflib.get_close_matches(name, sorted(set(known) | set(published)), n=3, cutoff=0.6)
            hint += (f"; no {build.version} voice of that name is published"
                     + (f"; did you mean {', '.join(close)}?" if close else ""))
        missing = "" if folder.is_dir() else ", which does not exist yet"
        return VoiceNotFoundError(f"voice {quote(name)} is not installed for model {build.version} "
                                  f"(looked in {folder}{missing}){hint}", param="voice")

    def where(self, build: Build) -> str:
        """Where the version's voices come from, for listings: the folder (if it exists) and PyPI."""
        folder = self._data_dir.voices_dir(build)
        shipped = "the voices shipped with kokoro-server (PyPI)" if self._embedded(build) else ""
        if folder.is_dir():
            return f"{folder}{f' and {shipped}' if shipped else ''}"
        fetch = download_hint(build, "--voices all")
        return f"{shipped or 'nowhere yet'} ({folder} does not exist yet; to fill it: {fetch})"

    def resolve(self, build: Build, spec: str | VoiceMix) -> np.ndarray:
        """A voice name or mix spec -> the (mixed) pack for this build."""
        mix = parse_mix(spec) if isinstance(spec, str) else spec
        if len(mix.parts) == 1:
            return self.load(build, mix.parts[0][0])
        key = (build.version, mix.canonical)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        packs = [(self.load(build, name), weight) for name, weight in mix.parts]
        mixed = sum(pack.astype(np.float64) * weight for pack, weight in packs).astype(np.float32)
        self._remember(key, mixed)
        return mixed

    def _remember(self, key: tuple[str, str], pack: np.ndarray) -> None:
        with self._lock:
            self._cache[key] = pack
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
            self._listings.clear()
