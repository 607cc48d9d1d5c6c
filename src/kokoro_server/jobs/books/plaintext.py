"""Plain text: chapters at "Chapter N" headings, else at headings set off by blank lines, else one.

- A heading line is short (at most 80 characters) and reads ``Chapter 12``, ``CHAPTER XII. The
  Storm``, ``Part Two``, ``Prologue``, ``Epilogue`` (also Capítulo, Chapitre, Capitolo, Kapitel, 第...章).
- Otherwise a short line with no closing punctuation, after two or more blank lines and before a
  blank line, is a heading, when the text has at least two of them.
- Otherwise the text is one chapter. A Project Gutenberg style header (``Title:``, ``Author:``,
  ``Language:``) gives the metadata; single line breaks inside a paragraph are joined.
"""

from __future__ import annotations

import re
from pathlib import Path

from kokoro_server.jobs.books.base import Book, BookError, Chapter, ReadOptions, Reader, decode_text, title_from_name

HEADING_CHARS = 80
NAMED_HEADING = re.compile(
    r"^(?:chapter|chap\.|part|book|prologue|epilogue|interlude|cap[ií]tulo|chapitre|capitolo|kapitel|"
    r"pr[oó]logo|ep[ií]logo)\b.{0,70}$|^第.{1,8}[章回节]", re.IGNORECASE)
NUMBER_HEADING = re.compile(r"^(?:[IVXLC]{1,7}|\d{1,3})\.?$")
CLOSING = ".,;:!?…\"'”’)"
META_LINE = re.compile(r"^(title|author|language)\s*:\s*(.+)$", re.IGNORECASE)


def read_text(path: Path, options: ReadOptions) -> Book:
    text = decode_text(path.read_bytes()).replace("\r\n", "\n").replace("\r", "\n")
    meta = {m.group(1).lower(): m.group(2).strip() for line in text[:4000].split("\n")[:40]
            if (m := META_LINE.match(line.strip()))}
    chapters = split_chapters(text)
    if not chapters:
        raise BookError("the text file has no text to read")
    title = meta.get("title") or title_from_name(options.name)
    return Book("text", tuple(chapters), title=title, author=meta.get("author"), language=meta.get("language"))


def split_chapters(text: str) -> list[Chapter]:
    lines = text.split("\n")
    named = [i for i, line in enumerate(lines) if _named(line)]
    starts = named or _set_off(lines)
    if len(starts) < (1 if named else 2):
        body = paragraphs(lines)
        return [Chapter("Text", body)] if body else []
    chapters = []
    before = paragraphs(lines[:starts[0]])
    if before:
        chapters.append(Chapter("Opening", before, "front"))
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        title = " ".join(lines[start].split())
        body = paragraphs(lines[start + 1:end])
        chapters.append(Chapter(title, f"{title}\n\n{body}" if body else title))
    return chapters


def _named(line: str) -> bool:
    line = line.strip()
    return bool(line) and len(line) <= HEADING_CHARS and bool(NAMED_HEADING.match(line) or NUMBER_HEADING.match(line))


def _set_off(lines: list[str]) -> list[int]:
    found = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or len(stripped) > HEADING_CHARS or stripped[-1] in CLOSING:
            continue
        blank_before = i >= 2 and not lines[i - 1].strip() and not lines[i - 2].strip()
        blank_after = i + 1 < len(lines) and not lines[i + 1].strip()
        if (blank_before or i == 0) and blank_after:
            found.append(i)
    return found


def paragraphs(lines: list[str]) -> str:
    """Paragraphs (blank-line separated), each with its line breaks joined."""
    result, current = [], []
    for line in lines:
        if line.strip():
            current.append(" ".join(line.split()))
        elif current:
            result.append(" ".join(current))
            current = []
    if current:
        result.append(" ".join(current))
    return "\n\n".join(result)


READER = Reader("text", (".txt", ".text"), read_text)
