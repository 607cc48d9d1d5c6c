"""The registry of language packs: codes and BCP-47 tags to packs, and live views for the builds."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from kokoro_server.languages.pack import LanguagePack

_CODE = re.compile(r"[a-z]")


class LanguageRegistry:
    def __init__(self, *packs: LanguagePack) -> None:
        self._packs: dict[str, LanguagePack] = {}
        self.register(*packs)

    def register(self, *packs: LanguagePack) -> None:
        for pack in packs:
            if not _CODE.fullmatch(pack.code):
                raise ValueError(f"language code {pack.code!r}: use one lower-case letter (the first letter of "
                                 "its voices' names)")
            if pack.code in self._packs:
                raise ValueError(f"language code {pack.code!r} is taken by {self._packs[pack.code].name}")
            if not pack.tags:
                raise ValueError(f"language {pack.code!r} needs at least one BCP-47 tag")
            self._packs[pack.code] = pack

    def unregister(self, code: str) -> None:
        self._packs.pop(code, None)

    @contextmanager
    def registered(self, *packs: LanguagePack) -> Iterator[None]:
        """The packs registered for the duration of a ``with`` block (tests, plug-ins)."""
        self.register(*packs)
        try:
            yield
        finally:
            for pack in packs:
                self.unregister(pack.code)

    def __iter__(self) -> Iterator[LanguagePack]:
        return iter(list(self._packs.values()))

    def __len__(self) -> int:
        return len(self._packs)

    def __contains__(self, code: object) -> bool:
        return code in self._packs

    def __getitem__(self, code: str) -> LanguagePack:
        return self._packs[code]

    def get(self, code: str) -> LanguagePack | None:
        return self._packs.get(code)

    def find(self, name: str, prefer: str | None = None) -> LanguagePack | None:
        """The pack a code (``e``) or a BCP-47 tag (``es``, ``es-MX``, ``en-GB``) names, case aside: the
        code, else an exact tag, else the first pack of the same primary language. A tag without a
        region (``en``) keeps ``prefer``'s variant when ``prefer`` is that language (British stays British)."""
        key = name.strip().lower().replace("_", "-")
        if not key:
            return None
        if key in self._packs:
            return self._packs[key]
        preferred = self._packs.get(prefer) if prefer else None
        if preferred is not None and "-" not in key and preferred.primary == key:
            return preferred
        for pack in self._packs.values():
            if key in (tag.lower() for tag in pack.tags):
                return pack
        primary = key.split("-")[0]
        return next((p for p in self._packs.values() if any(t.lower().split("-")[0] == primary for t in p.tags)),
                    None)

    def of_voice(self, voice: str) -> LanguagePack | None:
        """The language of a voice (or a mix: of its first voice), from its name's first letter."""
        first = voice.strip().split("+")[0].strip().rpartition("/")[2]
        return self._packs.get(first[:1].lower()) if first else None

    def view(self, accept: Callable[[LanguagePack], bool]) -> Mapping[str, LanguagePack]:
        """A live read-only mapping of the packs ``accept`` takes, by code (packs registered later too)."""
        return PackView(self, accept)

    def describe(self, codes: Mapping[str, LanguagePack] | None = None) -> str:
        """``a (English (US), en-us), b (English (UK), en-gb), ...``: for help texts."""
        packs = codes.values() if codes is not None else self._packs.values()
        return ", ".join(pack.describe() for pack in packs)


class PackView(Mapping[str, LanguagePack]):
    def __init__(self, registry: LanguageRegistry, accept: Callable[[LanguagePack], bool]) -> None:
        self._registry = registry
        self._accept = accept

    def __getitem__(self, code: str) -> LanguagePack:
        pack = self._registry.get(code)
        if pack is None or not self._accept(pack):
            raise KeyError(code)
        return pack

    def __iter__(self) -> Iterator[str]:
        return (pack.code for pack in self._registry if self._accept(pack))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"PackView({list(self)})"
