"""Markdown, cut into chapters at its headings: rendered by ``markdown-it-py`` (CommonMark), then read
as HTML (:mod:`.html`), so emphasis, links and code marks are never spoken. Footnote references
(``[^1]``) and definitions are dropped. A first ``# Title`` above ``## Chapter`` headings is the title.
"""

from __future__ import annotations

import re
from pathlib import Path

from kokoro_server.jobs.books.base import Book, BookError, Chapter, ReadOptions, Reader, decode_text, title_from_name
from kokoro_server.jobs.books.html import chapters_by_headings, html_blocks

FOOTNOTE_REFERENCE = re.compile(r"\[\^[^\]\s]{1,40}\]")
FOOTNOTE_DEFINITION = re.compile(r"^\[\^[^\]\s]{1,40}\]:.*(?:\n(?: {4}|\t).*)*", re.MULTILINE)
FRONT_MATTER = re.compile(r"\A---\n(.*?)\n(?:---|\.\.\.)\n", re.DOTALL)


def read_markdown(path: Path, options: ReadOptions) -> Book:
    from markdown_it import MarkdownIt

    source = decode_text(path.read_bytes())
    meta, source = _front_matter(source)
    source = FOOTNOTE_REFERENCE.sub("", FOOTNOTE_DEFINITION.sub("", source))
    rendered = MarkdownIt("commonmark", {"html": True}).render(source)
    return book_from_html_text("markdown", rendered, options, meta)


def book_from_html_text(fmt: str, document: str | bytes, options: ReadOptions,
                        meta: dict[str, str] | None = None) -> Book:
    doc = html_blocks(document, image_alt=options.image_alt)
    title, parts = chapters_by_headings(doc)
    meta = meta or {}
    chapters = tuple(Chapter(name or (f"Chapter {i}" if len(parts) > 1 else (title or "Text")), text)
                     for i, (name, text) in enumerate(parts, 1) if text.strip())
    if not chapters:
        raise BookError(f"the {fmt} file has no text to read")
    return Book(fmt, chapters, title=meta.get("title") or title or doc.title or title_from_name(options.name),
                author=meta.get("author"), language=meta.get("lang") or meta.get("language"))


def _front_matter(source: str) -> tuple[dict[str, str], str]:
    """A YAML-style block at the top (``title: ...``, ``author: ...``): simple ``key: value`` lines."""
    match = FRONT_MATTER.match(source)
    if not match:
        return {}, source
    meta = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().isidentifier():
            meta[key.strip().lower()] = value.strip().strip("\"'")
    return meta, source[match.end():]


READER = Reader("markdown", (".md", ".markdown"), read_markdown)
