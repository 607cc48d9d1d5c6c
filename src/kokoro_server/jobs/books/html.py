"""HTML to the text a reader hears, with lxml's HTML parser (never regular expressions over markup).

The document is walked once, iteratively (any depth of nesting), into :class:`Block` paragraphs:

- scripts, styles, forms, embedded media and the ``<head>`` are dropped;
- footnote markers are dropped: ``epub:type="noteref"`` or ``role="doc-noteref"``, and short links
  such as ``<sup><a href="#n3">3</a></sup>``; footnote bodies (``footnote``, ``endnote``...) and page
  break markers too;
- each heading (``h1``-``h6``) and block element (``p``, ``li``, ``blockquote``...) is its own block;
  ``<br>`` is a line break;
- an image's ``alt`` text is a block of its own when ``image_alt`` is on.

>>> blocks = html_blocks(b"<h1>One</h1><p>Hi<sup><a href='#n1'>1</a></sup> there.</p><script>x()</script>")
>>> [(b.level, b.text) for b in blocks.blocks]
[(1, 'One'), (0, 'Hi there.')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree, html

BLOCK_TAGS = frozenset(
    "address article aside blockquote body caption dd details div dl dt figcaption figure footer h1 h2 h3 h4 "
    "h5 h6 header hr li main nav ol p pre section summary table tbody td tfoot th thead tr ul".split())
SKIPPED_TAGS = frozenset(
    "audio button canvas embed form head iframe input math noscript object script select style svg "
    "template textarea title video".split())
HEADING_LEVELS = {f"h{n}": n for n in range(1, 7)}
NOTE_MARKER_TYPES = frozenset({"noteref", "doc-noteref"})
NOTE_BODY_TYPES = frozenset({"footnote", "footnotes", "endnote", "endnotes", "rearnote", "rearnotes", "note",
                             "doc-footnote", "doc-endnote", "doc-endnotes", "pagebreak", "doc-pagebreak"})
EPUB_TYPE_ATTRIBUTES = ("epub:type", "{http://www.idpf.org/2007/ops}type", "role")
NOTE_MARKER_TEXT = re.compile(r"^[\[(]?(?:\d{1,4}|[*†‡§¶#]{1,3}|[a-z]|[ivx]{1,5})[\])]?$", re.IGNORECASE)
FILE_NAME_ALT = re.compile(r"^[\w.-]+\.(?:jpe?g|png|gif|svg|webp)$|^(?:image|img|figure|cover|picture)\s*\d*$",
                           re.IGNORECASE)


@dataclass
class Block:
    text: str
    level: int = 0  # heading level 1-6; 0: body text
    anchors: tuple[str, ...] = ()  # ids of the elements that start at or inside this block


@dataclass
class HtmlText:
    blocks: list[Block] = field(default_factory=list)
    title: str | None = None  # the <title>
    types: frozenset[str] = frozenset()  # epub:type / role of the html, body and top-level sections

    @property
    def text(self) -> str:
        return "\n\n".join(b.text for b in self.blocks)

    def headings(self, level: int = 6) -> list[str]:
        return [b.text for b in self.blocks if 0 < b.level <= level]


def semantic_types(element: etree._Element) -> set[str]:
    types: set[str] = set()
    for name in EPUB_TYPE_ATTRIBUTES:
        types.update(str(element.get(name, "")).lower().split())
    return types


def _is_note_marker(element: etree._Element) -> bool:
    """A footnote reference: typed as one, or a short link into the book (``<a href="#n3">3</a>``),
    or a superscript that holds only such a link."""
    if semantic_types(element) & NOTE_MARKER_TYPES:
        return True
    tag = element.tag if isinstance(element.tag, str) else ""
    text = " ".join(element.text_content().split()) if tag in ("a", "sup") else ""
    if not NOTE_MARKER_TEXT.match(text):
        return False
    if tag == "a":
        return "#" in element.get("href", "")
    return tag == "sup" and any("#" in a.get("href", "") for a in element.iter("a"))


def _clean(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def parse_document(content: bytes | str) -> etree._Element:
    """The root of an HTML or XHTML document (lxml's HTML parser: no network, no entities expanded)."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    parser = html.HTMLParser(encoding=None, remove_comments=True, remove_pis=True, no_network=True)
    try:
        return html.document_fromstring(content, parser=parser)
    except (etree.ParserError, ValueError):  # nothing parseable: an empty document
        return html.document_fromstring(b"<html><body></body></html>")


def html_blocks(content: bytes | str, *, image_alt: bool = False) -> HtmlText:
    root = parse_document(content)
    result = HtmlText()
    title = root.find(".//title")
    if title is not None and title.text_content().strip():
        result.title = " ".join(title.text_content().split())
    types: set[str] = set()
    parts: list[str] = []
    level = 0
    anchors: list[str] = []
    pending: list[str] = []  # ids seen since the last text

    def flush() -> None:
        nonlocal level, anchors
        text = _clean("".join(parts))
        parts.clear()
        if text:
            result.blocks.append(Block(text, level, tuple(anchors)))
            anchors = []
        level = 0

    def add(text: str | None) -> None:
        if text:
            if pending and text.strip():
                anchors.extend(pending)
                pending.clear()
            parts.append(text)

    skipping: set[etree._Element] = set()
    walker = etree.iterwalk(root, events=("start", "end"))
    for event, element in walker:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if event == "start":
            if not tag:  # a comment or processing instruction that survived
                walker.skip_subtree()
                skipping.add(element)
                continue
            kinds = semantic_types(element)
            if tag in ("html", "body", "section", "div") and len(types) < 64 and _depth(element) <= 3:
                types.update(kinds)
            if tag in SKIPPED_TAGS or kinds & NOTE_BODY_TYPES or _is_note_marker(element):
                walker.skip_subtree()
                skipping.add(element)
                continue
            if element.get("id"):
                pending.append(element.get("id"))
            if tag in BLOCK_TAGS:
                flush()
                level = HEADING_LEVELS.get(tag, 0)
            elif tag == "br":
                parts.append("\n")
            elif tag == "img" and image_alt:
                alt = " ".join(str(element.get("alt", "")).split())
                if alt and not FILE_NAME_ALT.match(alt):
                    flush()
                    add(alt)
                    flush()
            add(element.text)
        else:
            if element in skipping:
                skipping.discard(element)
            elif tag in BLOCK_TAGS:
                flush()
            add(element.tail)
    flush()
    result.types = frozenset(types)
    return result


def _depth(element: etree._Element) -> int:
    depth = 0
    parent = element.getparent()
    while parent is not None and depth <= 3:
        depth += 1
        parent = parent.getparent()
    return depth


def chapters_by_headings(doc: HtmlText) -> tuple[str | None, list[tuple[str | None, str]]]:
    """A single document cut into chapters at its headings: ``(book title, [(title, text), ...])``.

    The chapters start at the highest heading level that occurs more than once; a single heading
    above them (one ``<h1>`` over several ``<h2>``) is the book's title. Text before the first
    chapter heading is a chapter of its own (untitled)."""
    levels = [b.level for b in doc.blocks if b.level]
    title = None
    split = 0
    for candidate in sorted(set(levels)):
        count = levels.count(candidate)
        if count == 1 and title is None and any(lv > candidate for lv in levels):
            title = next(b.text for b in doc.blocks if b.level == candidate)
            continue
        split = candidate
        break
    chapters: list[tuple[str | None, list[str]]] = []
    for block in doc.blocks:
        if title is not None and block.level and block.level < (split or 7) and block.text == title:
            continue  # the book's title heading is not read as part of a chapter
        if split and block.level == split:
            chapters.append((block.text, [block.text]))
        elif chapters:
            chapters[-1][1].append(block.text)
        else:
            chapters.append((None, [block.text]))
    return title, [(name, "\n\n".join(texts)) for name, texts in chapters]
