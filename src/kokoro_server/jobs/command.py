"""``kokoro-server book INPUT -o book.m4b``: a book to an audiobook, as a durable job of this data dir.

The job is the server's kind (``<data dir>/jobs``), made and run by this command with all the
machine's engine slots. Ctrl-C stops it after the chunk in progress and leaves it resumable: the
same command (same file, same options) goes on where it stopped; ``--restart`` starts over. Once
the files are written the job is deleted (``--keep`` keeps it, e.g. to fetch it from a server).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kokoro_server.captions import format_for_path
from kokoro_server.errors import ConflictError, InvalidInputError
from kokoro_server.files import STALE_AFTER_S, TEMP_NAME, TempFile, unlocked_since
from kokoro_server.jobs.model import BOOK_FORMAT, JobOptions, JobRequest, SpeechFields
from kokoro_server.settings import Settings

BOOK_SUFFIXES = (".m4b", ".m4a")


def add_book_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="the book: .epub, .md, .html or .txt")
    parser.add_argument("-o", "--output",
                        help="book.m4b (one audiobook with chapter marks), or a folder (ending in /) for one "
                             "file per chapter in --format")
    parser.add_argument("-v", "--voice", help="voice or mix (default: a voice of the book's language)")
    parser.add_argument("-m", "--model", help="model version or name (v1_0, v0_19, ...)")
    parser.add_argument("--speed", type=float, default=1.0, help="0.25 to 4.0")
    parser.add_argument("--lang", help="language code (default: from the voice or the book)")
    parser.add_argument("--chapters", help="which chapters, by number: 1-3,5 (default: all but front and back "
                                           "matter; see them with --list)")
    parser.add_argument("--list", action="store_true", help="list the book's chapters and exit")
    parser.add_argument("--format", default="mp3", help="chapter files' format when -o is a folder (default: mp3)")
    parser.add_argument("--captions", metavar="FILE", help="also write the book's captions: .srt, .vtt or .json")
    parser.add_argument("--front-matter", action="store_true", help="also read the front matter")
    parser.add_argument("--back-matter", action="store_true", help="also read the back matter")
    parser.add_argument("--image-alt", action="store_true", help="read images' alt text")
    parser.add_argument("--no-loudness", action="store_true", help="leave the levels as the model makes them")
    parser.add_argument("--markup", action="store_true", help="read Kokoro's inline markup in the text")
    parser.add_argument("--title", help="title instead of the book's own")
    parser.add_argument("--author", help="author instead of the book's own")
    parser.add_argument("--restart", action="store_true", help="start over instead of resuming an unfinished run")
    parser.add_argument("--keep", action="store_true", help="keep the job in the data dir when done")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=cmd_book)


def cmd_book(args: argparse.Namespace) -> int:
    from kokoro_server.jobs.service import JobService, fingerprint
    from kokoro_server.jobs.store import JobStore
    from kokoro_server.service import SpeechService

    source = Path(args.input)
    if not source.is_file():
        raise InvalidInputError(f"{args.input}: no such file", param="input")
    if not args.output and not args.list:
        raise InvalidInputError("say where to write the audiobook: -o book.m4b (or -o folder/ for chapter files)",
                                param="output")
    output = Path(args.output or "book.m4b")
    folder = (args.output or "").endswith(("/", "\\")) or output.is_dir()
    if not folder and output.suffix.lower() not in BOOK_SUFFIXES:
        raise InvalidInputError(f"-o {args.output}: write an .m4b audiobook, or a folder (ending in /) of chapter files",
                                param="output")
    captions = format_for_path(args.captions) if args.captions else None
    request = JobRequest(
        SpeechFields(voice=args.voice, model=args.model, speed=args.speed, lang=args.lang, markup=args.markup),
        JobOptions(format=args.format if folder else BOOK_FORMAT, chapters=args.chapters,
                   front_matter=args.front_matter, back_matter=args.back_matter, image_alt=args.image_alt,
                   normalize_loudness=not args.no_loudness, title=args.title, author=args.author))
    settings = Settings(**({"data_dir": Path(args.data_dir)} if args.data_dir else {}))
    service = SpeechService(settings)
    store = JobStore(service.data_dir.jobs_dir, max_disk_bytes=settings.job_max_disk_bytes)
    say = (lambda *a: None) if args.quiet else (lambda *a: print("kokoro-server:", *a, file=sys.stderr))
    try:
        jobs = JobService(settings, service, store)
        if args.list:
            return _list(jobs.prepare(source, source.name, request))
        key = fingerprint(source, request)
        job_id = store.find(fingerprint=key, origin="cli")
        if job_id is not None and args.restart:
            store.delete(job_id)
            job_id = None
        if job_id is None:
            prepared = jobs.prepare(source, source.name, request)
            if prepared.notice:
                say(f"note: {prepared.notice}")
            job_id = jobs.create(prepared, origin="cli", fingerprint=key, source_name=source.name)
        else:
            view = store.view(job_id)
            if view.status != "completed":
                done = sum(c.chunks_done for c in view.selected)
                say(f"resuming: {done} of {sum(c.chunks for c in view.selected)} chunks were done "
                    f"(--restart starts over)")
        if store.view(job_id).status != "completed":
            if not store.claim(job_id):
                raise ConflictError(f"another process is making this book now (job {job_id}); wait for it or "
                                    "stop it", param="input")
            _run(settings, service, store, job_id, quiet=args.quiet, say=say)
        _export(store, job_id, output, folder, captions, args.captions, say)
        if not args.keep:
            store.delete(job_id)
        return 0
    finally:
        store.close()
        service.close()


def _run(settings: Settings, service: object, store: object, job_id: str, *, quiet: bool, say) -> None:  # noqa: ANN001
    from tqdm import tqdm

    from kokoro_server.jobs.worker import JobWorker, Progress

    view = store.view(job_id)  # type: ignore[attr-defined]
    titles = {c.number: c for c in view.selected}
    overall = tqdm(total=view.chars, initial=view.chars_done, unit="char", disable=quiet, file=sys.stderr,
                   desc=(view.title or "book")[:30], position=0, dynamic_ncols=True)
    bars: dict[int, object] = {}  # the chapters being made now, each with its bar

    def progressed(progress: Progress) -> None:
        overall.update(progress.chars)
        if quiet:
            return
        bar = bars.get(progress.chapter)
        if bar is None:
            chapter = titles[progress.chapter]
            done = store.view(job_id).chapters[progress.chapter - 1].chars_done - progress.chars  # type: ignore[attr-defined]
            bar = bars[progress.chapter] = tqdm(total=chapter.chars, initial=max(done, 0), unit="char", file=sys.stderr,
                                                position=len(bars) + 1, leave=False, dynamic_ncols=True,
                                                desc=f"{chapter.number}. {chapter.title}"[:30])
        bar.update(progress.chars)  # type: ignore[attr-defined]
        if bar.n >= bar.total:  # type: ignore[attr-defined]
            bars.pop(progress.chapter).close()  # type: ignore[attr-defined]

    executor = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="kokoro-book")
    worker = JobWorker(store, service, job_id, executor=executor, workers=settings.concurrency,  # type: ignore[arg-type]
                       target_lufs=settings.job_loudness_lufs, on_progress=progressed)
    try:
        status = asyncio.run(worker.run())
    except KeyboardInterrupt:
        store.set_status(job_id, "queued", only_from=("running",))  # type: ignore[attr-defined]
        view = store.view(job_id)  # type: ignore[attr-defined]
        done = sum(c.chunks_done for c in view.selected)
        say(f"interrupted: {done} of {sum(c.chunks for c in view.selected)} chunks are done; run the same "
            "command again to resume (--restart starts over)")
        raise
    finally:
        for bar in bars.values():
            bar.close()  # type: ignore[attr-defined]
        overall.close()
        executor.shutdown(wait=True)
    if status != "completed":
        view = store.view(job_id)  # type: ignore[attr-defined]
        raise InvalidInputError(f"the book could not be made: {view.error or view.status}", param="input")


def _export(store, job_id: str, output: Path, folder: bool, captions: str | None, captions_path: str | None,  # noqa: ANN001
            say) -> None:  # noqa: ANN001
    view = store.view(job_id)
    out = store.output_folder(job_id)
    if folder:
        output.mkdir(parents=True, exist_ok=True)
        files = sorted((out / "chapters").iterdir()) if (out / "chapters").is_dir() else []
        for file in files:
            _copy(file, output / file.name)
        say(f"wrote {len(files)} files to {output} ({view.audio_seconds / 60:.1f} min, {len(view.selected)} chapters, "
            f"{view.voice})")
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        _copy(out / "book.m4b", output)
        say(f"wrote {output}: {view.audio_seconds / 60:.1f} min, {len(view.selected)} chapters ({view.voice})")
    if captions is not None and captions_path is not None:
        source = out / f"book.{captions}"
        if not source.is_file():
            raise InvalidInputError("no captions: the model gives no word timings", param="captions")
        _copy(source, Path(captions_path))
        say(f"wrote {captions_path}")


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_left_copies(target)
    with TempFile(target) as temp, source.open("rb") as handle:
        shutil.copyfileobj(handle, temp.file, 1 << 20)
        temp.commit()


def _sweep_left_copies(target: Path) -> None:
    """The temp files of a copy into ``target`` that a killed run left beside it (``.<name>.<random>.tmp``,
    unlocked and stale): the output is outside the data dir, so its start-up sweep does not see them."""
    prefix = f".{target.name}."
    for path in target.parent.glob(glob.escape(prefix) + "*.tmp"):
        if TEMP_NAME.match(path.name) and unlocked_since(path, STALE_AFTER_S):
            path.unlink(missing_ok=True)


def _list(prepared: object) -> int:
    book = prepared.book  # type: ignore[attr-defined]
    print(f"{book.title or '(no title)'}" + (f" by {book.author}" if book.author else "")
          + (f" [{book.language}]" if book.language else ""))
    print(f"voice {prepared.voice} ({prepared.lang}); {prepared.chars} characters chosen")  # type: ignore[attr-defined]
    for n, chapter in enumerate(book.chapters, 1):
        mark = "*" if n in prepared.selected else " "  # type: ignore[attr-defined]
        print(f" {mark} {n:3d}. {chapter.title} ({chapter.kind}, {len(chapter.text)} characters)")
    return 0
