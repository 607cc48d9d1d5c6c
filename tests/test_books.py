"""Books without synthesis: the readers per format, bad input, the chunk plan, the store's durability
rules, the loudness limiter, and the runner's priority of live requests over book chunks."""

from __future__ import annotations

import asyncio
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from kokoro_server.datadir import DataDir
from kokoro_server.errors import InvalidInputError
from kokoro_server.files import TempFile
from kokoro_server.jobs.books import BookError, ReadOptions, format_for, read_book
from kokoro_server.jobs.books.plaintext import split_chapters
from kokoro_server.jobs.loudness import apply_gain
from kokoro_server.jobs.plan import CHUNK_CHARS, plan_chapter
from kokoro_server.jobs.store import parse_selection
from kokoro_server.languages import LANGUAGES
from kokoro_server.serving.jobs import SpoolFile
from tests.support.books import CHAPTERS, make_epub


def read(path: Path, **options: object):
    return read_book(path, format_for(path.name, path.read_bytes()[:4096]), ReadOptions(**options))  # type: ignore[arg-type]


def test_epub_chapters_titles_metadata_cover_and_matter(tmp_path: Path) -> None:
    book = read(make_epub(tmp_path / "small.epub"))
    assert (book.title, book.author, book.language) == ("The Small Book", "Ada Writer", "en")
    assert book.cover is not None and book.cover.media_type == "image/jpeg"
    assert [(c.title, c.kind) for c in book.chapters] == [(t, "body") for t, _, _ in CHAPTERS] + [("Copyright", "back")]
    first = book.chapters[0].text
    assert first == "The Harbor\n\nThe boat left the harbor at dawn.\n\nGulls followed it out past the lighthouse."
    everything = " ".join(c.text for c in book.chapters)
    for never in ("never read", "footnote", "color", "document.write"):
        assert never not in everything  # scripts, styles, footnote markers and bodies are dropped


def test_epub2_table_of_contents_and_anchored_chapters_in_one_document(tmp_path: Path) -> None:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("one-file")
    book.set_title("One File")
    whole = epub.EpubHtml(title="All", file_name="all.xhtml")
    whole.content = ("<html><body><h2 id='a'>First Part</h2><p>Alpha text here.</p>"
                     "<h2 id='b'>Second Part</h2><p>Beta text here.</p></body></html>")
    book.add_item(whole)
    book.toc = [epub.Link("all.xhtml#a", "The First", "a"), epub.Link("all.xhtml#b", "The Second", "b")]
    book.add_item(epub.EpubNcx())  # EPUB 2: an NCX and no nav document
    book.spine = [whole]
    epub.write_epub(str(tmp_path / "one.epub"), book)
    parsed = read(tmp_path / "one.epub")
    assert [(c.title, c.text) for c in parsed.chapters] == [
        ("The First", "First Part\n\nAlpha text here."), ("The Second", "Second Part\n\nBeta text here.")]


def test_markdown_by_headings_and_text_by_chapter_lines(tmp_path: Path) -> None:
    (tmp_path / "book.md").write_text("# My Title\n\n## One\n\nSome *emphasis* and a [link](http://x)[^1].\n\n"
                                      "## Two\n\nMore text.\n\n[^1]: The note.\n")
    book = read(tmp_path / "book.md")
    assert book.title == "My Title"
    assert [(c.title, c.text) for c in book.chapters] == [("One", "One\n\nSome emphasis and a link."),
                                                          ("Two", "Two\n\nMore text.")]
    (tmp_path / "book.txt").write_text("Title: Plain\nAuthor: Bo\n\nCHAPTER I\n\nIt was\na dark night.\n\n"
                                       "Chapter 2. Morning\n\nThe sun rose.\n")
    text = read(tmp_path / "book.txt")
    assert (text.title, text.author) == ("Plain", "Bo")
    assert [(c.title, c.kind) for c in text.chapters] == [("Opening", "front"), ("CHAPTER I", "body"),
                                                          ("Chapter 2. Morning", "body")]
    assert text.chapters[1].text == "CHAPTER I\n\nIt was a dark night."
    assert [c.title for c in split_chapters("\n\nThe Start\n\nOne.\n\n\nThe End\n\nTwo.")] == ["The Start", "The End"]
    assert [c.title for c in split_chapters("Just one paragraph, nothing else.")] == ["Text"]


def test_html_with_scripts_reads_only_the_text(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_bytes(b"<html lang='fr'><head><title>Page</title><script>var x = 'hidden';</script>"
                                         b"</head><body><noscript>no</noscript><p>Bonjour.<img src='a.png' "
                                         b"alt='A red door'></p><style>p{}</style></body></html>")
    page = read(tmp_path / "page.html")
    assert (page.title, page.language, [c.text for c in page.chapters]) == ("Page", "fr", ["Bonjour."])
    assert read(tmp_path / "page.html", image_alt=True).chapters[0].text == "Bonjour.\n\nA red door"
    (tmp_path / "empty.html").write_text("<html><body><script>only('code')</script></body></html>")
    with pytest.raises(BookError, match="no text"):
        read(tmp_path / "empty.html")


def test_bad_books_are_refused_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "corrupt.epub").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    with pytest.raises(BookError, match="not a readable zip"):
        read(tmp_path / "corrupt.epub")
    good = make_epub(tmp_path / "good.epub").read_bytes()
    (tmp_path / "truncated.epub").write_bytes(good[: len(good) // 2])
    with pytest.raises(BookError):
        read(tmp_path / "truncated.epub")
    locked = tmp_path / "locked.epub"
    locked.write_bytes(good)
    with zipfile.ZipFile(locked, "a") as archive:
        archive.writestr("META-INF/encryption.xml", (
            "<encryption xmlns='urn:oasis:names:tc:opendocument:xmlns:container' "
            "xmlns:enc='http://www.w3.org/2001/04/xmlenc#'><enc:EncryptedData>"
            "<enc:EncryptionMethod Algorithm='http://www.w3.org/2001/04/xmlenc#aes128-cbc'/>"
            "<enc:CipherData><enc:CipherReference URI='EPUB/chapter1.xhtml'/></enc:CipherData>"
            "</enc:EncryptedData></encryption>"))
    with pytest.raises(BookError, match="DRM"):
        read(locked)
    bomb = tmp_path / "bomb.epub"
    bomb.write_bytes(good)
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("EPUB/zeros.xhtml", b"\0" * (4 * 1024 * 1024))  # 4 MiB unpacked, a few KiB packed
    assert bomb.stat().st_size < 200_000
    with pytest.raises(BookError, match="unpacks to"):
        read(bomb, max_unpacked_bytes=2 * 1024 * 1024)
    images_only = make_epub(tmp_path / "blank.epub", chapters=(), copyright_page=False)
    with pytest.raises(BookError, match="no text"):
        read(images_only)
    (tmp_path / "binary.bin").write_bytes(b"\x7fELF\x00\x00\x01")
    with pytest.raises(BookError, match="binary"):
        format_for("binary.bin", (tmp_path / "binary.bin").read_bytes())


def test_chunk_plan_covers_the_text_in_bounded_chunks() -> None:
    text = "Chapter One\n\n" + " ".join(f"Sentence {i} goes on, and on, for a while." for i in range(40)) + \
           "\n\n* * *\n\n" + "x" * 1000 + "\n\nThe end."
    plan = plan_chapter(text)
    assert all(p.end - p.start <= CHUNK_CHARS for p in plan)
    long = "We walked through the forest and the fields " * 12  # one sentence: the pack says where to cut it
    rules = LANGUAGES["a"].chunking
    pieces = [long[p.start:p.end] for p in plan_chapter(long, rules=rules)]
    assert len(pieces) > 1 and all(p.split()[0].lower() in rules.phrase_starters for p in pieces[1:]), pieces
    assert [p.start for p in plan] == sorted(p.start for p in plan)
    spoken = "".join(text[p.start:p.end] for p in plan)
    assert spoken.count("Sentence") == 40 and "x" * 1000 in spoken.replace(" ", "") and "* * *" not in spoken
    assert plan[0].boundary == "paragraph" and plan[-1].boundary == "end"
    assert parse_selection("1-3,5", 6) == {1, 2, 3, 5} and parse_selection(None, 2) == {1, 2}
    for bad in ("0", "2-1", "7", "a-b"):
        with pytest.raises(InvalidInputError):
            parse_selection(bad, 6)


def test_limiter_keeps_peaks_under_the_ceiling() -> None:
    rng = np.random.default_rng(1)
    audio = (rng.standard_normal(48_000) * 0.05).astype(np.float32)
    audio[1000:1010] = 0.9  # a burst far above the rest
    out = apply_gain(audio, 10 ** (6 / 20))
    assert np.abs(out).max() <= 10 ** (-3.5 / 20) + 1e-6
    untouched = slice(20_000, 40_000)  # far from the burst: only the gain
    assert np.allclose(out[untouched], audio[untouched] * 10 ** (6 / 20), rtol=1e-5)


def test_store_records_only_with_the_audio_on_disk_and_finds_orphans(tmp_path: Path) -> None:
    from kokoro_server.jobs.books import Book, Chapter
    from kokoro_server.jobs.model import JobRequest
    from kokoro_server.jobs.store import ChunkResult, JobStore, Owner

    store = JobStore(tmp_path / "jobs")
    book = Book("text", (Chapter("One", "First sentence. Second one.\n\nA new paragraph."),))
    job = store.create(book, JobRequest(), voice="af_heart", lang="a", selected={1})
    tasks = store.pending(job)
    assert [t.text for t in tasks] == ["First sentence. Second one.", "A new paragraph."]
    result = ChunkResult(np.ones(2400, dtype=np.int16), [], None, 0.1)
    assert not store.record(tasks[0], result)  # not claimed: nothing is recorded
    assert store.claim(job)
    assert store.record(tasks[0], result)
    assert store.read_chunk(job, 1, 0).size == 2400
    assert [t.index for t in store.pending(job)] == [1]
    store.chunk_path(job, 1, 0).unlink()  # a done chunk whose audio is gone is made again
    assert [t.index for t in store.pending(job)] == [0, 1]
    assert store.orphans() == []  # this process owns it and lives
    other = JobStore(tmp_path / "jobs")  # a second process: it must not take a live owner's job
    assert other.orphans() == [] and not other.claim(job)
    dead = tmp_path / "jobs" / "owners" / "gone-1.lock"
    dead.write_text("")  # an owner whose process died: its lock file is not held
    store._db.execute("UPDATE jobs SET owner = 'gone-1' WHERE id = ?", (job,))
    assert other.orphans() == [job] and not dead.exists()
    assert other.claim(job) and other.view(job).status == "running"
    assert Owner.alive(tmp_path / "jobs" / "owners", other.owner.token)
    other.close()
    kept = store.chunk_path(job, 1, 0)
    kept.write_bytes(b"\0\0")
    os.utime(kept, (time.time() - 3600,) * 2)
    left = []  # temp files a process killed mid-write leaves: a chunk, an output, an upload
    for target in (store.chunk_path(job, 1, 1), store.output_folder(job) / "chapters" / "01-One.mp3",
                   store.output_folder(job) / "book.m4b"):
        target.parent.mkdir(parents=True, exist_ok=True)
        left.append(TempFile(target))
    left.append(SpoolFile.create(DataDir(tmp_path).spool_dir))  # an upload (or a one-off answer) being spooled
    for temp in left:
        temp.file.close()  # its process "died": unlocked
        os.utime(temp.path, (time.time() - 3600,) * 2)  # the next start, some minutes later
    assert set(DataDir(tmp_path).sweep_temp_files()) == {t.path for t in left}  # the start-up sweep finds them
    assert kept.is_file()  # and nothing else
    store.delete(job)
    assert not (tmp_path / "jobs" / job).exists()
    store.close()


def test_live_requests_go_before_book_chunks_and_wait_at_most_one(service) -> None:
    """One engine slot: a book holds it chunk by chunk; a live request that arrives meanwhile is served
    after the chunk in progress, before the book's next chunk."""
    from kokoro_server.audio.encoders import StreamingEncoder
    from kokoro_server.service import SpeechRequest
    from kokoro_server.serving.runner import SynthesisRunner

    prepared = service.prepare(SpeechRequest(text="Hi."))

    async def scenario() -> list[str]:
        runner = SynthesisRunner(service, concurrency=1, queue_size=4)
        events: list[str] = []
        started = asyncio.Event()

        async def book() -> None:
            for i in range(3):
                async with runner.background_turn():
                    events.append(f"book {i} start")
                    started.set()
                    await asyncio.sleep(0.3)  # a chunk's synthesis
                    events.append(f"book {i} end")

        task = asyncio.create_task(book())
        await started.wait()
        stream = await runner.start(prepared, StreamingEncoder("pcm"), request_id="live")
        events.append("live first audio")
        async for _ in stream.pieces():
            pass
        events.append("live end")
        await task
        runner.close()
        return events

    assert asyncio.run(scenario()) == ["book 0 start", "book 0 end", "live first audio", "live end",
                                       "book 1 start", "book 1 end", "book 2 start", "book 2 end"]


@pytest.mark.parametrize("resume", [True, False])
def test_a_restart_resumes_unfinished_jobs_or_cancels_them(tmp_path: Path, resume: bool) -> None:
    from kokoro_server.jobs.books import Book, Chapter
    from kokoro_server.jobs.model import JobRequest
    from kokoro_server.jobs.scheduler import JobScheduler
    from kokoro_server.jobs.store import JobStore
    from kokoro_server.settings import Settings

    store = JobStore(tmp_path / "jobs")
    book = Book("text", (Chapter("One", "Some text."),))
    running, queued, done = (store.create(book, JobRequest(), voice="af_heart", lang="a", selected={1})
                             for _ in range(3))
    for job in (running, done):
        assert store.claim(job)
    store.set_status(done, "completed")
    (tmp_path / "jobs" / "owners" / "dead-1.lock").write_text("")
    store._db.execute("UPDATE jobs SET owner = 'dead-1' WHERE id = ?", (running,))  # its server was killed
    scheduler = JobScheduler(Settings(data_dir=tmp_path, job_resume=resume), None, store)  # type: ignore[arg-type]
    scheduler._recover()
    statuses = [store.view(j).status for j in (running, queued, done)]
    assert statuses == (["queued", "queued", "completed"] if resume else ["cancelled", "cancelled", "completed"])
    ended = {done} if resume else {running, queued, done}
    assert store.expired(3600) == [] and set(store.expired(-1)) == ended  # finished jobs expire after the TTL
    store.close()


def test_the_book_language_picks_the_voice(service) -> None:
    from kokoro_server.jobs.model import SpeechFields
    from kokoro_server.jobs.speaker import choose_voice

    assert choose_voice(service, SpeechFields(), "en-US") == (None, None)  # the default voice speaks it
    assert choose_voice(service, SpeechFields(), "en-GB") == ("bf_emma", "b")
    assert choose_voice(service, SpeechFields(), "en_UK") == ("bf_emma", "b")  # not BCP-47, but in EPUBs
    assert choose_voice(service, SpeechFields(), "fr") == ("ff_siwis", "f")
    assert choose_voice(service, SpeechFields(), "pt-PT") == ("pf_dora", "p")
    assert choose_voice(service, SpeechFields(), "xx") == (None, None)  # unknown: the default voice
    assert choose_voice(service, SpeechFields(voice="am_adam"), "fr") == ("am_adam", None)  # the request's voice wins
