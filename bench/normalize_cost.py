"""CPU time of English normalization on adversarial input (100,000 characters of a repeated pattern,
the shapes of tests/test_normalize.py), one process per side so that two checkouts can be compared:

    python bench/normalize_cost.py                      # this checkout
    python bench/normalize_cost.py --src /tmp/base/src  # another checkout (git worktree add /tmp/base REV)

Run the two alternately a few times and compare the totals (CPU seconds, not wall time: the machine
may be shared)."""

from __future__ import annotations

import argparse
import sys
import time

UNITS = ["1-", "-1", "#", "$1", "1/", "%1", "1:1", "I ", "1", "in 1914 ", "1-800-", "5(1)(a) ", "on 7/4 "]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", help="the src folder of another checkout to import kokoro_server from")
    parser.add_argument("--chars", type=int, default=100_000)
    args = parser.parse_args()
    if args.src:
        sys.path.insert(0, args.src)
    try:
        from kokoro_server.languages import normalize
    except ImportError:  # a checkout from before the language packs
        from kokoro_server.text.normalize import normalize
    from kokoro_server.text.clean import clean_input

    total = 0.0
    for unit in UNITS:
        text = clean_input(unit * (args.chars // len(unit)))
        start = time.process_time()
        normalize(text)
        seconds = time.process_time() - start
        total += seconds
        print(f"{unit!r:>12}: {seconds:6.2f} s")
    print(f"{'total':>12}: {total:6.2f} s")


if __name__ == "__main__":
    main()
