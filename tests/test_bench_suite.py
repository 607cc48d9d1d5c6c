"""The benchmark suite's own logic (no model, no server, no timing): texts, options, statistics and
the verdicts on the issue's targets. The benchmark itself is run by hand: ``python bench/run.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import harness  # noqa: E402
import run  # noqa: E402


@pytest.mark.parametrize("words", [60, 600, 6000])
def test_texts_have_the_asked_length(words: int) -> None:
    text = harness.text_of(words)
    assert len(text.split()) == words
    assert text.endswith(".")
    if words > 700:
        assert "Chapter two." in text and "Chapter ten." in text


def test_workloads_are_short_sentences() -> None:
    short = harness.short_texts()
    assert len(short) == len(harness.PARAGRAPHS)
    assert all(15 <= len(t.split()) <= 45 and t.count(".") == 2 for t in short)
    soak = harness.soak_texts()
    assert len(soak) > 30 and all(1 <= len(t.split()) <= 8 and t.endswith(".") for t in soak)


def test_summaries_show_noise_and_skip_missing_values() -> None:
    assert harness.summarize([3.0, 1.0, 2.0, float("nan")]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert harness.percentile([1, 2, 3, 4, 5], 50) == 3
    assert run.cell({"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}) == "2.00 (1.00-3.00)"
    assert run.cell({"median": 2.0, "min": 2.0, "max": 2.0, "n": 1}) == "2.00"


def test_options() -> None:
    quick, _ = run.parse_args(["--quick"])
    assert (quick.runs, quick.texts, quick.conc_runs, quick.clients) == (2, [60, 600], 1, [1, 2, 4, 8])
    assert run.formats_for(600, quick) == ["pcm"] and run.formats_for(60, quick) == ["mp3", "pcm"]
    full, _ = run.parse_args(["--long", "--runs", "5", "--server-concurrency", "1,2", "--clients", "",
                              "--server-env", "KOKORO_SESSIONS=2"])
    assert (full.runs, full.texts, full.clients, full.server_concurrency) == (5, [60, 600, 6000], [], [1, 2])
    assert run.our_env(full, 2) == {"KOKORO_THREADS": "0", "KOKORO_SESSIONS": "2", "KOKORO_CONCURRENCY": "2"}
    assert run.requests_for(8, full) == 16 and run.requests_for(1, full) == 4
    with pytest.raises(SystemExit):
        run.parse_args(["--server-env", "PATH=/tmp"])


def summary(median: float) -> dict[str, float]:
    return {"median": median, "min": median, "max": median, "n": 1}


def test_targets_are_judged_from_the_medians() -> None:
    single = {
        60: {"floor": {"ttfa_s": summary(1.0), "total_s": summary(10.0), "rtf": summary(0.5)},
             "ours pcm": {"ttfa_s": summary(1.1), "total_s": summary(10.2), "rtf": summary(0.51)},
             "fastkokoro pcm": {"ttfa_s": summary(3.0), "total_s": summary(10.0), "rtf": summary(0.55)}},
        600: {"floor": {"ttfa_s": summary(1.0), "total_s": summary(100.0), "rtf": summary(0.5)},
              "ours pcm": {"ttfa_s": summary(1.3), "total_s": summary(110.0), "rtf": summary(0.55)}},
    }
    concurrency = {"floor": {1: {"throughput": summary(1.5)}},
                   "ours": {4: {"throughput": summary(1.9), "latency_p95_s": 9.0}},
                   "fastkokoro": {4: {"throughput": summary(2.0), "latency_p95_s": 9.0}}}
    memory = {"soak": run.rss_trend(500.0, 520.0, 560.0)}
    verdicts = {t["target"]: t["met"] for t in run.targets(single, concurrency, memory)}
    assert verdicts == {
        "one long streamed request (600 words, pcm): throughput >= 0.95 x floor": False,  # 100/110 = 0.91
        "60 words, pcm: TTFA <= floor first chunk + 150 ms": True,  # +100 ms
        "60 words, pcm: TTFA <= 0.5 x fastkokoro's": True,  # 1.1 / 3.0
        "ours, 4 clients: throughput >= 1.2 x single-request floor": True,  # 1.9 / 1.5
        "RSS flat (+-10%): soak": False,  # max 560 is +12%
    }
    ratios = run.single_ratios(single)
    assert {(r["words"], r["vs"]) for r in ratios} == {(60, "floor"), (60, "fastkokoro pcm"), (600, "floor")}
    assert run.concurrency_ratios(concurrency) == [
        {"system": "ours", "clients": 4, "throughput_vs_floor": pytest.approx(1.9 / 1.5),
         "throughput_vs_fastkokoro": pytest.approx(0.95)}]
