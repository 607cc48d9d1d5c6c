"""The finished job's files: an M4B audiobook (AAC in MP4 with chapter marks, metadata and cover),
chapter files in any response format, and captions (SRT, WebVTT, JSON) per chapter and for the book.

Everything is written from the stored chunks one at a time (memory stays flat for any length) to a
temp file renamed into place. A chapter is laid out as: :data:`HEAD_SECONDS` of silence, each chunk
and the pause after it, :data:`TAIL_SECONDS` of silence (ACX asks for 0.5-1 s and 1-5 s of room tone).
The M4B is written with PyAV (FFmpeg's MP4 muxer with the ``M4B`` brand): chapter marks go in as
both a QuickTime chapter track and a Nero ``chpl`` atom, the cover as ``covr``.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np

from kokoro_server import SAMPLE_RATE, captions
from kokoro_server.audio.encoders import StreamingEncoder, get_format, to_int16, wav_header
from kokoro_server.files import TempFile
from kokoro_server.jobs.loudness import apply_gain, book_loudness, gain_for
from kokoro_server.jobs.store import JobStore, StoredChunk
from kokoro_server.timestamps import WordTime

HEAD_SECONDS = 0.75
TAIL_SECONDS = 2.0
M4B_BIT_RATE = 64_000  # AAC-LC, mono 24 kHz: transparent for speech
ISO_639_2 = {"en": "eng", "es": "spa", "fr": "fra", "hi": "hin", "it": "ita", "pt": "por", "ja": "jpn", "zh": "zho"}


@dataclass(frozen=True)
class ChapterLayout:
    number: int
    title: str
    text: str
    chunks: tuple[StoredChunk, ...]

    @property
    def head(self) -> int:
        return round(HEAD_SECONDS * SAMPLE_RATE)

    @property
    def tail(self) -> int:
        return round(TAIL_SECONDS * SAMPLE_RATE)

    @property
    def samples(self) -> int:
        return self.head + sum(c.samples + c.pause for c in self.chunks) + self.tail

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    def words(self) -> list[WordTime] | None:
        """Every word with its time in this chapter's audio; None if a chunk has no word timings."""
        result: list[WordTime] = []
        at = self.head
        for chunk in self.chunks:
            if chunk.words is None:
                return None
            offset = at / SAMPLE_RATE
            result.extend(WordTime(str(w), round(offset + float(s), 3), round(offset + float(e), 3), int(a), int(b))
                          for w, s, e, a, b in chunk.words)  # type: ignore[misc]
            at += chunk.samples + chunk.pause
        return result


@dataclass(frozen=True)
class BookMeta:
    title: str | None
    author: str | None
    language: str | None
    comment: str | None = None


def layouts(store: JobStore, job_id: str, only: int | None = None) -> list[ChapterLayout]:
    """The selected chapters with their finished chunks (all of them, once the job is complete)."""
    chunks: dict[int, list[StoredChunk]] = {}
    for chunk in store.stored_chunks(job_id, only):
        chunks.setdefault(chunk.chapter, []).append(chunk)
    return [ChapterLayout(n, title, text, tuple(chunks.get(n, ()))) for n, (title, text)
            in store.chapter_texts(job_id).items() if only is None or n == only]


def book_loudness_of(chapters: Sequence[ChapterLayout]) -> float | None:
    """The book's loudness (LUFS) before any gain, from its chunks' measures."""
    return book_loudness([(c.loudness, c.samples) for ch in chapters for c in ch.chunks])


def book_gain(chapters: Sequence[ChapterLayout], target_lufs: float | None) -> float:
    """One gain for the whole book to ``target_lufs`` (1.0: leave it as it is)."""
    return 1.0 if target_lufs is None else gain_for(book_loudness_of(chapters), target_lufs)


class Levels:
    """Tallies what is written: RMS and peak of the whole output."""

    def __init__(self) -> None:
        self.sum_squares = 0.0
        self.samples = 0
        self.peak = 0.0

    def add(self, audio: np.ndarray) -> None:
        if audio.size:
            self.sum_squares += float(np.dot(audio.astype(np.float64), audio.astype(np.float64)))
            self.peak = max(self.peak, float(np.abs(audio).max()))
        self.samples += audio.size

    def report(self, gain: float, loudness: float | None) -> dict[str, float | None]:
        def db(value: float) -> float | None:
            return round(20 * np.log10(value), 2) if value > 0 else None

        return {"gain_db": db(gain), "loudness_lufs": None if loudness is None else round(loudness + 20 * np.log10(gain), 2),
                "rms_dbfs": db((self.sum_squares / self.samples) ** 0.5) if self.samples else None,
                "peak_dbfs": db(self.peak)}


def chapter_audio(store: JobStore, job_id: str, chapter: ChapterLayout, gain: float,
                  levels: Levels | None = None) -> Iterator[np.ndarray]:
    """The chapter's audio as float32 pieces: silence, each chunk (with the book's gain) and its pause, silence."""
    def out(piece: np.ndarray) -> np.ndarray:
        if levels is not None:
            levels.add(piece)
        return piece

    yield out(np.zeros(chapter.head, dtype=np.float32))
    for chunk in chapter.chunks:
        audio = store.read_chunk(job_id, chunk.chapter, chunk.index).astype(np.float32) / 32768.0
        yield out(apply_gain(audio, gain))
        if chunk.pause:
            yield out(np.zeros(chunk.pause, dtype=np.float32))
    yield out(np.zeros(chapter.tail, dtype=np.float32))


def write_audio(path: Path, fmt: str, pieces: Iterator[np.ndarray]) -> Path:
    """A complete file in ``fmt`` (a response format) from float pieces, written atomically."""
    with TempFile(path) as temp:
        encode_audio(temp.file, fmt, pieces)
        return temp.commit()


def encode_audio(file: BinaryIO, fmt: str, pieces: Iterator[np.ndarray]) -> None:
    """Float pieces encoded in ``fmt`` into ``file`` (seekable, empty); WAV gets its real sizes."""
    encoder = StreamingEncoder(get_format(fmt), streaming=False)
    for piece in pieces:
        file.write(encoder.encode(piece))
    file.write(encoder.finish())
    if fmt == "wav":
        size = file.tell() - len(wav_header(0))
        file.seek(0)
        file.write(wav_header(size))
    file.flush()


def write_m4b(path: Path, store: JobStore, job_id: str, chapters: Sequence[ChapterLayout], gain: float,
              meta: BookMeta, cover: Path | None, levels: Levels | None = None) -> Path:
    import av
    from av.stream import Disposition

    with TempFile(path) as temp:
        with av.open(temp.file, mode="w", format="mp4", options={"brand": "M4B "}) as container:
            for key, value in (("title", meta.title), ("album", meta.title), ("artist", meta.author),
                               ("album_artist", meta.author), ("genre", "Audiobook"), ("comment", meta.comment)):
                if value:
                    container.metadata[key] = value
            stream = container.add_stream("aac", rate=SAMPLE_RATE)
            stream.layout = "mono"
            stream.bit_rate = M4B_BIT_RATE
            language = ISO_639_2.get((meta.language or "")[:2].lower())
            if language:
                stream.metadata["language"] = language
            picture = _cover_stream(container, cover, Disposition.attached_pic) if cover else None
            marks, at, pts = [], 0, 0
            for number, chapter in enumerate(chapters, 1):
                marks.append({"id": number, "start": _ms(at), "end": _ms(at + chapter.samples),
                              "time_base": Fraction(1, 1000), "metadata": {"title": chapter.title}})
                at += chapter.samples
                for piece in chapter_audio(store, job_id, chapter, gain, levels):
                    if not piece.size:
                        continue
                    frame = av.AudioFrame.from_ndarray(to_int16(piece).reshape(1, -1), format="s16", layout="mono")
                    frame.sample_rate = SAMPLE_RATE
                    frame.pts = pts
                    pts += piece.size
                    for packet in stream.encode(frame):
                        container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
            if picture is not None:
                container.mux(picture)
            container.set_chapters(marks)
        return temp.commit()


def _ms(samples: int) -> int:
    return round(samples * 1000 / SAMPLE_RATE)


def _cover_stream(container: object, cover: Path, attached: object) -> object | None:
    """The cover as an attached picture (MP4 ``covr``): the image's own bytes, not re-encoded."""
    import av

    data = cover.read_bytes()
    try:
        with av.open(io.BytesIO(data)) as image:
            source = image.streams.video[0].codec_context
            codec, width, height, pix_fmt = source.name, source.width, source.height, source.pix_fmt
    except (av.FFmpegError, IndexError, OSError):
        return None
    if codec not in ("mjpeg", "png") or not width or not height:
        return None
    stream = container.add_stream(codec)  # type: ignore[attr-defined]
    stream.width, stream.height = width, height
    stream.pix_fmt = pix_fmt or ("yuvj420p" if codec == "mjpeg" else "rgb24")
    stream.disposition = attached
    packet = av.Packet(data)
    packet.stream = stream
    packet.pts = packet.dts = 0
    return packet


def book_words(chapters: Sequence[ChapterLayout]) -> tuple[list[WordTime], str] | None:
    """Every word of the book with its time in the whole audiobook, and the text (chapters joined by
    blank lines) their characters point into; None without word timings."""
    words: list[WordTime] = []
    texts: list[str] = []
    at_samples = at_chars = 0
    for chapter in chapters:
        heard = chapter.words()
        if heard is None:
            return None
        offset = at_samples / SAMPLE_RATE
        words.extend(WordTime(w.word, round(w.start_time + offset, 3), round(w.end_time + offset, 3),
                              w.char_start + at_chars, w.char_end + at_chars) for w in heard)
        texts.append(chapter.text)
        at_samples += chapter.samples
        at_chars += len(chapter.text) + 2
    return words, "\n\n".join(texts)


def write_captions(path: Path, fmt: str, words: list[WordTime], text: str, seconds: float) -> Path:
    with TempFile(path) as temp:
        temp.file.write(caption_bytes(fmt, words, text, seconds))
        return temp.commit()


def caption_bytes(fmt: str, words: list[WordTime], text: str, seconds: float) -> bytes:
    return captions.render(fmt, words, text, seconds).encode()


def write_zip(path: Path, files: Sequence[Path]) -> Path:
    """The chapter files (already compressed audio) in one stored (uncompressed) zip."""
    with TempFile(path) as temp:
        with zipfile.ZipFile(temp.file, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for file in files:
                archive.write(file, file.name)
        return temp.commit()


def chapter_file_name(number: int, title: str, extension: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in " -_" else " " for ch in title)
    safe = "-".join(safe.split())[:60] or "chapter"
    return f"{number:02d}-{safe}.{extension}"
