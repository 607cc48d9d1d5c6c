"""What the benchmarks share: the texts, a data dir, phonemes prepared beforehand, medians.

Scripts in ``bench/`` import this as ``workload`` (they run as ``python bench/NAME.py``).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # as the product does (see engine/onnx_runtime.py)

ASSETS = Path(os.environ.get("KOKORO_TEST_ASSETS", Path(__file__).resolve().parents[2] / "shared" / "assets"))

TEXT_200_WORDS = (
    "The harbour town woke slowly on the first morning of spring. Fishermen checked their nets by the "
    "light of the low sun, while the baker on the corner pulled the first loaves from his oven and set "
    "them on the wide wooden shelf by the window. Children ran along the sea wall, shouting at the gulls "
    "that circled above the boats. At the end of the pier, an old woman sat on a bench with a flask of "
    "tea, watching the tide come in as she had done for almost fifty years. She remembered the storm of "
    "her childhood, when the waves had reached the church steps and the whole town had gathered in the "
    "square to wait for news of the lifeboat. Now the water was calm and silver, and the only sound was "
    "the gentle knocking of hulls against the harbour stones. A young man with a camera asked if he could "
    "take her picture. She laughed, straightened her scarf, and told him that he would need a wider lens "
    "to fit in all the stories she could tell him. He sat down beside her, and for the rest of the "
    "morning he listened, forgetting the camera entirely, as the town went about its quiet and ordinary "
    "business around them."
)


@dataclass(frozen=True)
class Utterance:
    """One engine call's input, prepared beforehand: tokens (no pads) and the voice's style row."""

    text: str
    tokens: list[int]
    style: np.ndarray  # [1, 256] float32


def data_dir(path: str | None) -> Path:
    """The given data dir, or a temp one whose voices link to the shared real voice packs."""
    if path:
        return Path(path)
    root = Path(tempfile.mkdtemp(prefix="kokoro-bench-"))
    (root / "voices").mkdir(parents=True)
    (root / "voices" / "v1_0").symlink_to(ASSETS / "voices" / "v1_0")
    return root


def model_path(root: Path) -> Path:
    """The embedded int8 v1.0 model in ``root`` (assembled there from the PyPI packages once)."""
    from kokoro_server.builds import get_build
    from kokoro_server.datadir import DataDir

    return DataDir(root).assemble_embedded(get_build("v1_0"))


def utterance(prepared, text: str, tokens: Sequence[int]) -> Utterance:
    """One engine call's input for ``tokens`` of a prepared request (cut to the model's limit, the
    build's style row for that length), as the service makes it."""
    from kokoro_server.builds.base import MAX_TOKENS

    tokens = list(tokens[:MAX_TOKENS])
    return Utterance(text, tokens, np.asarray(prepared.pack[prepared.build.style_row(len(tokens))]).reshape(1, -1))


def prepare(root: Path, voice: str, text: str):
    """(service, prepared request) for ``text``: the text front end only, no model is loaded."""
    from kokoro_server.service import SpeechRequest, SpeechService
    from kokoro_server.settings import Settings

    service = SpeechService(Settings(data_dir=root))
    return service, service.prepare(SpeechRequest(text=text, voice=voice))


def utterances(root: Path, voice: str, token_targets: Sequence[int], text: str = TEXT_200_WORDS) -> list[Utterance]:
    """Prefixes of ``text`` cut at word boundaries, each about ``target`` phoneme tokens long."""
    service, prepared = prepare(root, voice, text)
    phonemize, tokenize = service.phonemizer(prepared.build, prepared.lang), prepared.build.tokenize
    words = prepared.source.split()
    result = []
    for target in token_targets:
        low, high = 1, len(words)
        while low < high:  # the shortest prefix with at least ``target`` tokens
            middle = (low + high) // 2
            if len(tokenize(phonemize(" ".join(words[:middle])))) >= target:
                high = middle
            else:
                low = middle + 1
        prefix = " ".join(words[:low])
        result.append(utterance(prepared, prefix, tokenize(phonemize(prefix))))
    return result


def pipeline_chunks(service, prepared) -> list[Utterance]:
    """The engine calls the service makes for a prepared request: its chunks as the pipeline cuts them."""
    return [utterance(prepared, c.text, c.tokens) for c in service.chunks(prepared)]


def chunks(root: Path, voice: str, text: str = TEXT_200_WORDS) -> list[Utterance]:
    """The engine calls the service makes for ``text``."""
    return pipeline_chunks(*prepare(root, voice, text))


def open_session(path: Path, threads: int, optimized_out: Path | None = None):
    """A bare onnxruntime session (the floor): its defaults with ``threads`` intra-op threads, one
    inter-op thread, all graph optimizations."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if optimized_out is not None:
        options.optimized_model_filepath = str(optimized_out)
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def run_once(session, utterance: Utterance, speed: float = 1.0) -> np.ndarray:
    feeds = {"tokens": np.array([[0, *utterance.tokens, 0]], dtype=np.int64), "style": utterance.style,
             "speed": np.array([speed], dtype=np.float32)}
    return session.run(None, feeds)[0].reshape(-1)


def timed(call: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = call()
    return time.perf_counter() - start, value


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``y = a + b x``: (a, b)."""
    slope, intercept = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(intercept), float(slope)


def machine() -> dict[str, object]:
    """Where and when: CPU model, cores, memory, load, date, versions, commit."""
    import platform

    import onnxruntime

    import kokoro_server

    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    from kokoro_server.cpus import usable_cores

    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable_cores(),
            "memory_gib": round(memory / 2**30, 1),
            "load": [round(x, 2) for x in os.getloadavg()], "uptime": uptime(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "platform": platform.platform(),
            "python": platform.python_version(), "onnxruntime": onnxruntime.__version__,
            "kokoro_server": kokoro_server.__version__, "commit": git_commit(),
            "command": " ".join(["python", *sys.argv])}


def uptime() -> str:
    """``uptime``'s line (load averages over 1, 5 and 15 minutes)."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def git_commit() -> str:
    """The short commit, with ``+changes`` when tracked files differ from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=Path(__file__).parent,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers]] + [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
