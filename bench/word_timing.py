"""Word timestamps against an independent aligner: prints the README's accuracy table.

    python bench/word_timing.py [--data-dir DIR] [--threads 2] [--plain]

Every sentence of each case (English at speed 1.0 and 1.5, Spanish, French; tests/support/timing.py)
is spoken by the server's engine with word timestamps, and faster-whisper base (the test extra's
offline model) gives its own word timestamps; per word matched by spelling, the |start difference|
is summed up as median / p90, inside chunks and at the first word of a chunk after the first. Prints
the table for the README ("Word timestamps and captions") and the signed median inside chunks. With
the default settings (the fast variant, derived into the data dir on first use) unless --plain.
About 4 minutes on 2 cores. Needs the test extra: pip install -e '.[test]'.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.support: the measurement the tests share

import workload  # noqa: E402  (bench/workload.py: the shared-assets data dir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="data dir (default: a temp dir with ../shared/assets voices)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--plain", action="store_true", help="run the plain model (KOKORO_FAST_MODEL=false)")
    args = parser.parse_args()

    from kokoro_server.service import SpeechService
    from kokoro_server.settings import Settings
    from tests.support import timing
    from tests.support.whisper import Transcriber, whisper_model_dir

    root = workload.data_dir(args.data_dir)
    service = SpeechService(Settings(data_dir=root, threads=args.threads, fast_model=not args.plain))
    results = []
    with tempfile.TemporaryDirectory(prefix="kokoro-whisper-") as whisper:
        transcriber = Transcriber(whisper_model_dir(Path(whisper)))
        for case in timing.FULL:
            results.append(timing.measure(service, transcriber, case))
            print(timing.row(results[-1]), file=sys.stderr, flush=True)
    service.close()
    print(timing.table(results))
    print()
    print("\n".join(timing.signed(m) for m in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
