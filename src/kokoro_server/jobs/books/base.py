"""What every book reader returns: a :class:`Book` of :class:`Chapter` texts, and its errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kokoro_server.errors import InvalidInputError

ChapterKind = Literal["front", "body", "back"]  # front and back matter: cover, copyright, contents, index...

MAX_COVER_BYTES = 10 * 1024 * 1024  # a larger cover image is left out
COVER_TYPES = {"image/jpeg": "jpg", "image/png": "png"}  # what an MP4 cover (covr) may hold


class BookError(InvalidInputError):
    """The uploaded book cannot be read: corrupt, encrypted (DRM), too large unpacked, or without text."""

    code = "invalid_book"

    def __init__(self, message: str) -> None:
        super().__init__(message, param="file")


@dataclass(frozen=True)
class Chapter:
    title: str
    text: str  # paragraphs separated by blank lines
    kind: ChapterKind = "body"


@dataclass(frozen=True)
class Cover:
    data: bytes
    media_type: str  # one of COVER_TYPES

    @property
    def extension(self) -> str:
        return COVER_TYPES[self.media_type]


@dataclass(frozen=True)
class Book:
    format: str  # the reader's name: epub, markdown, html, text
    chapters: tuple[Chapter, ...]
    title: str | None = None
    author: str | None = None
    language: str | None = None  # the book's language tag as its metadata gives it (en-GB, fr, ...)
    cover: Cover | None = None

    @property
    def chars(self) -> int:
        return sum(len(c.text) for c in self.chapters)


@dataclass(frozen=True)
class ReadOptions:
    image_alt: bool = False  # read images' alt text
    max_unpacked_bytes: int = 300 * 1024 * 1024  # an EPUB's files together, unpacked (zip bombs)
    name: str = ""  # the uploaded file's name: a title when the book has none


@dataclass(frozen=True)
class Reader:
    """One input format: its name, the file name endings it takes, and the function that reads it."""

    name: str
    suffixes: tuple[str, ...]
    read: Callable[[Path, ReadOptions], Book] = field(repr=False)


def cover_of(data: bytes | None, media_type: str | None) -> Cover | None:
    """A cover image an MP4 can carry (JPEG or PNG, at most MAX_COVER_BYTES), else None."""
    if not data or len(data) > MAX_COVER_BYTES:
        return None
    if data[:3] == b"\xff\xd8\xff":
        return Cover(data, "image/jpeg")
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return Cover(data, "image/png")
    return None


def decode_text(data: bytes) -> str:
    """A text file's characters: UTF-8 (with or without a BOM), UTF-16 with a BOM, else Windows-1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def title_from_name(name: str) -> str | None:
    stem = Path(name).stem.replace("_", " ").strip() if name else ""
    return stem or None
