"""Book readers, one module per input format, and the registry that picks one.

Each reader turns a file into a :class:`~.base.Book` (chapters of plain text, title, author,
language, cover). Adding a format is a module with a ``READER`` and one line in :data:`READERS`.
"""

from __future__ import annotations

from pathlib import Path

from kokoro_server.jobs.books import epub, markdown, plaintext, webpage
from kokoro_server.jobs.books.base import Book, BookError, Chapter, ChapterKind, Cover, ReadOptions, Reader

READERS: dict[str, Reader] = {r.name: r for r in (epub.READER, markdown.READER, webpage.READER, plaintext.READER)}

__all__ = ["Book", "BookError", "Chapter", "ChapterKind", "Cover", "READERS", "ReadOptions", "Reader",
           "format_for", "read_book"]


def format_for(name: str, head: bytes, declared: str | None = None) -> str:
    """The reader for a file: ``declared`` (a format name), else its name's ending, else its first bytes."""
    if declared:
        if declared not in READERS:
            raise BookError(f"unknown book format {declared!r}; use one of: {', '.join(READERS)}")
        return declared
    suffix = Path(name).suffix.lower() if name else ""
    for reader in READERS.values():
        if suffix in reader.suffixes:
            return reader.name
    if head.startswith(b"PK\x03\x04"):
        return "epub"
    if b"\x00" in head[:1024] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BookError(f"cannot read {name or 'the file'}: a binary file that is not an EPUB; "
                        f"send .epub, .md, .html or .txt")
    start = head.lstrip()[:256].lower()
    if start.startswith((b"<!doctype html", b"<html", b"<?xml")) or b"<body" in start:
        return "html"
    return "text"


def read_book(path: Path, fmt: str, options: ReadOptions) -> Book:
    """The book in ``path`` read as ``fmt``; :class:`BookError` (a 400) when it cannot be read or has no text."""
    book = READERS[fmt].read(path, options)
    if not any(c.text.strip() for c in book.chapters):
        raise BookError("the book has no text to read")
    return book
