"""A single HTML (or XHTML) file, cut into chapters at its headings like Markdown; the title from
``<title>`` or a lone top heading, the language from ``<html lang>``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from kokoro_server.jobs.books.base import Book, ReadOptions, Reader
from kokoro_server.jobs.books.html import parse_document
from kokoro_server.jobs.books.markdown import book_from_html_text


def read_html(path: Path, options: ReadOptions) -> Book:
    data = path.read_bytes()
    book = book_from_html_text("html", data, options)
    root = parse_document(data)
    lang = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang")
    author = next((m.get("content") for m in root.iter("meta") if str(m.get("name", "")).lower() == "author"), None)
    return replace(book, language=book.language or lang, author=book.author or author)


READER = Reader("html", (".html", ".htm", ".xhtml"), read_html)
