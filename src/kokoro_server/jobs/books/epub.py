"""EPUB 2 and 3 with ``ebooklib``: spine order, titles from the navigation document, matter detected.

Before ``ebooklib`` unpacks anything the archive is checked with :mod:`zipfile`: the files' declared
sizes together must stay under ``max_unpacked_bytes`` (``zipfile`` never inflates more than a
member declares, so this bounds a zip bomb), and a book whose text documents are encrypted (DRM;
font obfuscation is fine) is refused.

Chapters are the spine's documents in order (``linear="no"`` ones left out). A document the table
of contents names several times (``book.xhtml#ch2``) is cut at those anchors; a document it does not
name and that starts without a heading continues the chapter before it. Titles come from the
navigation document (EPUB 3) or the NCX (EPUB 2), else the document's first heading. Front and back
matter (cover, title page, copyright, contents, dedication; acknowledgements, index, colophon, about
the author...) are recognised by ``epub:type``, the landmarks/guide, and their titles; they are kept
with ``kind`` "front" or "back", so a job can leave them out.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urldefrag

from lxml import etree

from kokoro_server.jobs.books.base import Book, BookError, Chapter, ChapterKind, ReadOptions, Reader, cover_of
from kokoro_server.jobs.books.html import HtmlText, html_blocks

MAX_MEMBERS = 20_000
FONT_OBFUSCATION = frozenset({"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"})
TEXT_SUFFIXES = (".xhtml", ".html", ".htm", ".xml", ".opf", ".ncx")
FRONT_TYPES = frozenset({"cover", "titlepage", "halftitlepage", "title-page", "copyright-page", "copyright", "toc",
                         "dedication", "epigraph", "frontmatter", "loi", "lot", "imprint", "seriespage",
                         "doc-toc", "doc-dedication", "doc-epigraph", "doc-cover", "landmarks"})
BACK_TYPES = frozenset({"index", "colophon", "acknowledgments", "acknowledgements", "bibliography", "glossary",
                        "backmatter", "contributors", "other-credits", "appendix", "endnotes", "rearnotes",
                        "doc-index", "doc-colophon", "doc-acknowledgments", "doc-bibliography", "doc-glossary",
                        "doc-endnotes", "copyright-page", "imprint"})
BODY_TYPES = frozenset({"bodymatter", "chapter", "part", "prologue", "epilogue", "introduction", "preface",
                        "foreword", "doc-chapter", "doc-part", "doc-prologue", "doc-epilogue", "doc-introduction"})
MATTER_TITLE = re.compile(
    r"^(?:cover|title\s*page|half\s*title|copyright(?:\s*page)?|(?:table\s+of\s+)?contents|dedication|epigraph|"
    r"also\s+by.*|other\s+(?:books|titles)\s+by.*|books\s+by.*|praise\s+for.*|acknowledge?ments?|"
    r"about\s+the\s+(?:author|authors|publisher|translator)s?|index|colophon|bibliography|glossary|"
    r"(?:end\s*)?notes|imprint|credits|permissions|newsletter.*|sign\s+up.*)$", re.IGNORECASE)


@dataclass
class _Part:
    title: str | None
    texts: list[str]
    matter: bool  # looks like front or back matter
    body: bool  # marked as body matter


def check_archive(path: Path, limit: int) -> None:
    """Refuse what is not a readable zip, is too large unpacked, or is encrypted (DRM)."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise BookError(f"the EPUB holds {len(infos)} files; at most {MAX_MEMBERS} are read")
            unpacked = sum(info.file_size for info in infos)
            if unpacked > limit:
                raise BookError(f"the EPUB unpacks to {unpacked} bytes; the limit is {limit} "
                                "(KOKORO_JOB_MAX_UNPACKED_BYTES)")
            names = {info.filename for info in infos}
            if "META-INF/encryption.xml" in names:
                _check_encryption(archive.read("META-INF/encryption.xml"))
            if "META-INF/container.xml" not in names:
                raise BookError("the file is a zip archive but not an EPUB (no META-INF/container.xml)")
    except zipfile.BadZipFile as exc:
        raise BookError(f"the EPUB is not a readable zip archive ({exc})") from None
    except (OSError, EOFError, zipfile.LargeZipFile, NotImplementedError, RuntimeError) as exc:
        raise BookError(f"the EPUB could not be read ({exc})") from None


def _check_encryption(data: bytes) -> None:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError:
        return
    if root is None:
        return
    for encrypted in root.iter("{*}EncryptedData"):
        method = encrypted.find("{*}EncryptionMethod")
        algorithm = method.get("Algorithm", "") if method is not None else ""
        reference = encrypted.find(".//{*}CipherReference")
        uri = reference.get("URI", "") if reference is not None else ""
        if algorithm not in FONT_OBFUSCATION and uri.lower().endswith(TEXT_SUFFIXES):
            raise BookError(f"the EPUB is encrypted (DRM: {uri} is encrypted with {algorithm or 'an unknown method'}); "
                            "only DRM-free books can be read")


def read_epub(path: Path, options: ReadOptions) -> Book:
    import ebooklib
    from ebooklib import epub

    check_archive(path, options.max_unpacked_bytes)
    try:
        book = epub.read_epub(str(path), {"ignore_ncx": False})
    except (epub.EpubException, KeyError, etree.LxmlError, ValueError, AttributeError, IndexError, TypeError,
            zipfile.BadZipFile, OSError, EOFError, UnicodeError) as exc:
        raise BookError(f"the EPUB could not be read ({type(exc).__name__}: {exc})") from None
    titles = _toc_titles(book)
    landmarks = _landmarks(book)
    parts: list[_Part] = []
    for idref, linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is None or str(linear).lower() == "no" or item.get_type() not in (ebooklib.ITEM_DOCUMENT,):
            continue
        if isinstance(item, epub.EpubNav):
            continue
        name = item.get_name()
        doc = html_blocks(item.get_content(), image_alt=options.image_alt)
        if not doc.blocks:
            continue
        kind_types = doc.types | landmarks.get(name, set())
        matter = bool(kind_types & (FRONT_TYPES | BACK_TYPES)) or isinstance(item, epub.EpubCoverHtml)
        body = bool(kind_types & BODY_TYPES)
        parts.extend(_split(doc, name, titles, matter, body, continuations=bool(titles)))
    chapters = _chapters(parts)
    if not chapters:
        raise BookError("the EPUB has no text to read (its documents are empty, images only, or not in the spine)")
    return Book("epub", tuple(chapters), title=_meta(book, "title"), author=_meta(book, "creator"),
                language=_meta(book, "language"), cover=_cover(book))


def _split(doc: HtmlText, name: str, titles: dict[str, str], matter: bool, body: bool, *,
           continuations: bool) -> list[_Part]:
    """A document's parts: cut where the table of contents points into it (``name#anchor``). With a
    table of contents, a document it does not name continues the chapter before it unless it
    starts with a heading."""
    parts: list[_Part] = []
    whole = titles.get(name)
    current = _Part(whole, [], matter, body)
    named = whole is not None
    for block in doc.blocks:
        anchored = next((titles[f"{name}#{a}"] for a in block.anchors if f"{name}#{a}" in titles), None)
        if anchored is not None and (current.texts or current.title not in (None, anchored)):
            if current.texts:
                parts.append(current)
            current = _Part(anchored, [], matter, body)
            named = True
        elif anchored is not None:
            current.title = anchored
            named = True
        current.texts.append(block.text)
    if current.texts:
        parts.append(current)
    if not named:  # not in the table of contents: its heading names it, else it continues
        heading = doc.blocks[0].text if doc.blocks[0].level else None
        for part in parts:
            part.title = heading if heading is not None or not continuations else None
            if heading is None and continuations:
                part.title = ""  # "": continues the chapter before
    return parts


def _chapters(parts: list[_Part]) -> list[Chapter]:
    merged: list[_Part] = []
    for part in parts:
        if part.title == "" and merged:
            merged[-1].texts.extend(part.texts)
        else:
            merged.append(part)
    for part in merged:
        part.matter = part.matter or (not part.body and bool(part.title and MATTER_TITLE.match(part.title.strip())))
    body = [i for i, p in enumerate(merged) if not p.matter]
    first, last = (body[0], body[-1]) if body else (len(merged), -1)
    chapters = []
    for i, part in enumerate(merged):
        kind: ChapterKind = "body"
        if part.matter and i < first:
            kind = "front"
        elif part.matter and i > last:
            kind = "back"
        title = part.title or f"Chapter {len(chapters) + 1}"
        chapters.append(Chapter(" ".join(title.split()), "\n\n".join(part.texts), kind))
    return chapters


def _toc_titles(book: object) -> dict[str, str]:
    """``file`` and ``file#anchor`` -> title, from the nav document or the NCX (first mention wins)."""
    titles: dict[str, str] = {}

    def visit(entries: object) -> None:
        for entry in entries if isinstance(entries, (list, tuple)) else ():
            if isinstance(entry, tuple) and len(entry) == 2:
                section, children = entry
                add(getattr(section, "href", None), getattr(section, "title", None))
                visit(children)
            else:
                add(getattr(entry, "href", None), getattr(entry, "title", None))

    def add(href: str | None, title: str | None) -> None:
        if not href or not title or not title.strip():
            return
        target, anchor = urldefrag(unquote(href))
        target = posixpath.normpath(target)
        key = f"{target}#{anchor}" if anchor else target
        titles.setdefault(key, " ".join(title.split()))
        titles.setdefault(target, " ".join(title.split()))

    visit(getattr(book, "toc", ()))
    return _relative_to_opf(book, titles)


def _relative_to_opf(book: object, titles: dict[str, str]) -> dict[str, str]:
    """The nav document's hrefs are joined with its own folder; items are named relative to the OPF.
    Map each key onto an item name when only the folder differs."""
    names = {item.get_name() for item in book.get_items()}  # type: ignore[attr-defined]
    fixed: dict[str, str] = {}
    for key, title in titles.items():
        target, _, anchor = key.partition("#")
        if target not in names:
            match = next((n for n in names if n.endswith("/" + target) or target.endswith("/" + n)), None)
            target = match or target
        fixed.setdefault(f"{target}#{anchor}" if anchor else target, title)
    return fixed


def _landmarks(book: object) -> dict[str, set[str]]:
    """item name -> its types in the EPUB 2 guide (cover, title-page, toc, text...)."""
    found: dict[str, set[str]] = {}
    for reference in getattr(book, "guide", None) or ():
        href, kind = reference.get("href"), reference.get("type")
        if href and kind:
            target = posixpath.normpath(urldefrag(unquote(href))[0])
            found.setdefault(target, set()).add(str(kind).lower().replace("title-page", "titlepage")
                                                 .replace("text", "bodymatter"))
    return found


def _meta(book: object, name: str) -> str | None:
    try:
        values = book.get_metadata("DC", name)  # type: ignore[attr-defined]
    except (KeyError, AttributeError):
        return None
    texts = [" ".join(str(v[0]).split()) for v in values if v and v[0] and str(v[0]).strip()]
    if not texts:
        return None
    return ", ".join(texts) if name == "creator" else texts[0]


def _cover(book: object):  # -> Cover | None
    from ebooklib import epub

    items = list(book.get_items())  # type: ignore[attr-defined]
    candidates = [i for i in items if isinstance(i, epub.EpubCover)]
    try:
        for value, attributes in book.get_metadata("OPF", "cover"):  # type: ignore[attr-defined]
            item = book.get_item_with_id((attributes or {}).get("content", ""))  # type: ignore[attr-defined]
            if item is not None:
                candidates.append(item)
    except (KeyError, AttributeError, TypeError, ValueError):
        pass
    candidates += [i for i in items if getattr(i, "media_type", "").startswith("image/")
                   and "cover" in (i.get_name() + str(getattr(i, "id", ""))).lower()]
    for item in candidates:
        cover = cover_of(item.get_content(), getattr(item, "media_type", None))
        if cover is not None:
            return cover
    return None


READER = Reader("epub", (".epub",), read_epub)
