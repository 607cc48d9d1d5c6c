"""Books made in the test with ebooklib: an EPUB with chapters, a title, an author, a language, a cover."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np

# Three short chapters: heading, then two paragraphs (three job chunks each).
CHAPTERS = (
    ("The Harbor", "The boat left the harbor at dawn.", "Gulls followed it out past the lighthouse."),
    ("The Storm", "A storm came over the hills at noon.", "Rain hammered on the deck for an hour."),
    ("Home Again", "They were glad to be home that evening.", "Supper was bread, soup and apples."),
)


def cover_jpeg(width: int = 48, height: int = 64) -> bytes:
    """A small real JPEG (PyAV's MJPEG encoder)."""
    import av

    image = av.VideoFrame.from_ndarray(np.full((height, width, 3), 120, np.uint8), format="rgb24")
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt, codec.time_base = width, height, "yuvj420p", Fraction(1, 25)
    return b"".join(bytes(p) for p in codec.encode(image.reformat(format="yuvj420p")) + codec.encode(None))


def make_epub(path: Path, chapters=CHAPTERS, *, title: str = "The Small Book", author: str = "Ada Writer",
              language: str = "en", cover: bool = True, copyright_page: bool = True, footnotes: bool = True) -> Path:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier(f"test-{title}")
    book.set_title(title)
    book.set_language(language)
    book.add_author(author)
    if cover:
        book.set_cover("cover.jpg", cover_jpeg())
    items = []
    for number, (heading, first, second) in enumerate(chapters, 1):
        item = epub.EpubHtml(title=heading, file_name=f"chapter{number}.xhtml", lang=language)
        note = (f"<sup><a href='#note{number}' epub:type='noteref'>{number}</a></sup>" if footnotes else "")
        item.content = (f"<html><head><style>p {{ color: red; }}</style></head><body><h1>{heading}</h1>"
                        f"<p>{first}{note}</p><script>document.write('never read');</script><p>{second}</p>"
                        + (f"<aside epub:type='footnote' id='note{number}'><p>A footnote, never read.</p></aside>"
                           if footnotes else "") + "</body></html>")
        book.add_item(item)
        items.append(item)
    extra = []
    if copyright_page:
        page = epub.EpubHtml(title="Copyright", file_name="copyright.xhtml")
        page.content = "<html><body><p>Copyright 2026 Ada Writer. All rights reserved.</p></body></html>"
        book.add_item(page)
        extra.append(page)
    book.toc = items + extra
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = (["cover"] if cover else []) + ["nav"] + items + extra
    epub.write_epub(str(path), book)
    return path


def epub_bytes(**kwargs: object) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return make_epub(Path(folder) / "book.epub", **kwargs).read_bytes()  # type: ignore[arg-type]


def m4b_chapters(data: bytes) -> tuple[list[tuple[float, float, str]], dict[str, str], float, bool]:
    """(start s, end s, title) of each chapter mark, the metadata, the duration (s), and whether a cover is attached."""
    import av

    with av.open(io.BytesIO(data)) as container:
        marks = [(float(c["start"] * c["time_base"]), float(c["end"] * c["time_base"]), c["metadata"].get("title", ""))
                 for c in container.chapters()]
        cover = any(s.type == "video" and s.disposition & av.stream.Disposition.attached_pic for s in container.streams)
        return marks, dict(container.metadata), container.duration / 1_000_000, cover
