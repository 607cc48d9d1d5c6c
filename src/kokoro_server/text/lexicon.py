"""A pronunciation lexicon per data dir: ``lexicon/<lang>.json`` or ``lexicon/<lang>.tsv`` (``<lang>``:
the one-letter Kokoro language code, e.g. ``a.json`` for American English).

- JSON: an object ``{"word": "phonemes", ...}``; TSV: one ``word<TAB>phonemes`` per line, ``#`` comments.
- Case: an entry written all in lower case matches the word in any case (``kokoro`` matches ``Kokoro``
  and ``KOKORO``); an entry with a capital letter matches only that exact spelling (``US`` is not ``us``).
- Entries match whole words (or phrases) as written in the request, before normalization, and are
  spoken with their phonemes (like ``[word](/phonemes/)``).
- A file is read again when it changes. A bad entry (empty word or phonemes, a symbol outside the
  phoneme set) is reported with its line and skipped; the rest of the file still loads.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kokoro_server.text.document import Document, Phonemes, Segment, Text

SUFFIXES = (".json", ".tsv")


@dataclass(frozen=True)
class Lexicon:
    lang: str
    path: Path | None
    entries: Mapping[str, str] = field(default_factory=dict)  # word as written in the file -> phonemes
    problems: tuple[str, ...] = ()  # "file:line: what is wrong"
    _pattern: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def apply(self, document: Document) -> Document:
        """The document with every lexicon word of its (not substituted) text segments of this language
        (or of no language yet) as given phonemes."""
        if not self.entries or self._pattern is None:
            return document
        segments: list[Segment] = []
        for segment in document.segments:
            if isinstance(segment, Text) and not segment.substituted and segment.lang in (None, self.lang):
                segments.extend(self._split(segment))
            else:
                segments.append(segment)
        return Document(document.source, tuple(segments), document.notices)

    def _split(self, segment: Text) -> Iterator[Segment]:
        assert self._pattern is not None
        position = 0
        for match in self._pattern.finditer(segment.text):
            word = match.group(0)
            phonemes = self.entries.get(word) or self.entries.get(word.lower())  # lower-case entries: any case
            if phonemes is None:
                continue
            start, end = segment.start + match.start(), segment.start + match.end()
            if match.start() > position:
                yield Text(segment.text[position:match.start()], segment.start + position, start, lang=segment.lang)
            yield Phonemes(phonemes, word, start, end)
            position = match.end()
        if position < len(segment.text):
            yield Text(segment.text[position:], segment.start + position, segment.end, lang=segment.lang)


def _entries(path: Path, text: str) -> Iterator[tuple[int, str, str]]:
    """(line, word, phonemes) of each entry in a lexicon file; raises ValueError for a broken file."""
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}:1: the file must be a JSON object of word -> phonemes")
        lines = text.splitlines()
        for word, phonemes in data.items():
            needle = json.dumps(word, ensure_ascii=False)
            line = next((i + 1 for i, l in enumerate(lines) if needle in l), 1)
            yield line, word, phonemes
        return
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, tab, phonemes = raw.partition("\t")
        yield number, word.strip(), phonemes.strip() if tab else None  # type: ignore[misc]


def load(path: Path, lang: str, vocab: Mapping[str, int]) -> Lexicon:
    """Read and check one lexicon file (bad entries are reported and skipped)."""
    problems: list[str] = []
    entries: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
        rows = list(_entries(path, text))
    except (OSError, UnicodeDecodeError) as exc:
        return Lexicon(lang, path, problems=(f"{path}: cannot read: {exc}",))
    except ValueError as exc:
        return Lexicon(lang, path, problems=(str(exc),))
    for line, word, phonemes in rows:
        where = f"{path}:{line}"
        if not isinstance(word, str) or not word.strip():
            problems.append(f"{where}: empty word")
        elif not isinstance(phonemes, str) or not phonemes.strip():
            problems.append(f"{where}: {word!r} has no phonemes" + ("" if path.suffix == ".json" else
                                                                     " (use word<TAB>phonemes)"))
        elif bad := next((ch for ch in phonemes if ch not in vocab and not ch.isspace()), None):
            problems.append(f"{where}: {word!r}: phoneme {bad!r} (U+{ord(bad):04X}) is not in the model's phoneme set")
        else:
            entries[word.strip()] = phonemes.strip()
    pattern = None
    if entries:
        words = sorted(entries, key=len, reverse=True)
        pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.IGNORECASE)
    return Lexicon(lang, path, entries, tuple(problems), pattern)


class LexiconStore:
    """The data dir's lexicons, each re-read when its file changes (size or modification time)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[tuple[str, str], tuple[tuple[int, int, str], Lexicon]] = {}
        self._lock = threading.Lock()

    def path(self, lang: str) -> Path | None:
        for suffix in SUFFIXES:
            candidate = self.folder / f"{lang}{suffix}"
            if candidate.is_file():
                return candidate
        return None

    def get(self, lang: str, vocab: Mapping[str, int], version: str = "") -> Lexicon:
        """The lexicon of ``lang``, checked against ``vocab`` (the phoneme set of model ``version``)."""
        path = self.path(lang)
        if path is None:
            return Lexicon(lang, None)
        try:
            stat = path.stat()
        except OSError:
            return Lexicon(lang, None)
        key = (stat.st_mtime_ns, stat.st_size, str(path))
        with self._lock:
            cached = self._cache.get((lang, version))
            if cached is not None and cached[0] == key:
                return cached[1]
        lexicon = load(path, lang, vocab)
        with self._lock:
            self._cache[(lang, version)] = (key, lexicon)
        return lexicon

    def languages(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted({p.stem for p in self.folder.iterdir() if p.suffix in SUFFIXES and p.is_file()})
