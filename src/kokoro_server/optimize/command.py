"""``kokoro-server optimize``: derive a faster model file from the installed one, check it, install it.

The recipe (see :mod:`kokoro_server.optimize.rewrite`): the convolutions of the vocoder's noise
branch, which take about a quarter of the int8 model's CPU time, become static int8 ``QLinearConv``
with activation ranges calibrated on our own texts and voices. Everything else, the duration
predictor included, is left as it is. The result is installed only if, on check sentences not used
for calibration, every utterance keeps exactly its length (same durations) and its log-mel spectrum
stays within the int8 model's own quantization error of the original's (measured: making those
convs float moves the spectrum by about 0.8 dB; this recipe by about 0.8 dB too).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kokoro_server.builds import Build, get_build
from kokoro_server.builds.base import MAX_TOKENS
from kokoro_server.cpus import usable_cores
from kokoro_server.engine.derived.select import portable_key
from kokoro_server.engine.derived.store import DerivedStore, Entry, Key
from kokoro_server.engine.ort import import_onnxruntime
from kokoro_server.errors import BackendUnavailableError, InvalidInputError, KokoroError
from kokoro_server.optimize.quality import log_mel_distance
from kokoro_server.settings import Settings
from kokoro_server.languages import normalize_text

CALIBRATION_TEXTS = (
    "Please remember to bring your umbrella, because it might rain this afternoon.",
    "Scientists believe the ancient forest is over three thousand years old!",
    "What time does the library open on Sunday?",
)
CHECK_TEXTS = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Children were laughing and playing in the park until sunset.",
    "Our team sold twelve hundred tickets for the concert last Saturday.",
)
VOICES = ("af_heart", "am_michael", "bf_emma", "af_bella")
PERCENTILE = 99.99  # activation ranges: the calibration values' 0.01% tails are clipped
MAX_MEAN_DB = 1.0  # quality bar: mean log-mel distance to the original over the check set
MAX_DB = 1.25  # ... and for any one check utterance
RECIPE = "static-int8-noise-branch/1"
"""What this command derives; bumping it retires files made by an older recipe."""


class QualityCheckFailed(KokoroError):
    code = "quality_check_failed"


@dataclass(frozen=True)
class Utterance:
    voice: str
    text: str
    tokens: list[int]
    style: np.ndarray


@dataclass(frozen=True)
class QualityCheck:
    utterances: int
    durations_identical: bool
    mean_db: float
    max_db: float
    source_seconds: float  # wall time of the check set on the original model
    derived_seconds: float  # ... and on the derived one

    @property
    def passed(self) -> bool:
        return self.durations_identical and self.mean_db <= MAX_MEAN_DB and self.max_db <= MAX_DB


@dataclass(frozen=True)
class Optimized:
    source: Path
    path: Path
    convs: int
    check: QualityCheck | None  # None: an up-to-date file was already there


def derived_key(source: Path) -> Key:
    """Where the derived-model store keeps this command's file for ``source`` (portable: any CPU)."""
    return portable_key(source, (RECIPE,))


def derived_path(source: Path) -> Path:
    return DerivedStore(source.parent).file_path(derived_key(source))


def manifest_path(source: Path) -> Path:
    return DerivedStore(source.parent).manifest_path(derived_key(source))


def usable_derived(source: Path) -> Path | None:
    """This command's verified file for ``source`` (None: none, or stale or corrupt: then deleted)."""
    return DerivedStore(source.parent).read(derived_key(source), source).path


def install(source: Path, data: bytes, quality: dict[str, object]) -> Path:
    """Write the derived model and its manifest into the store, atomically (the file first); other
    portable files of ``source`` (older recipes) are removed."""
    store = DerivedStore(source.parent)
    for _, entry in store.entries():
        if entry is not None and entry.key.source == source.name and entry.key.cpu == "any":
            store.discard(entry.key)
    entry = Entry(derived_key(source), 0, 0, "", None, applied=[RECIPE],
                  reason=f"`kokoro-server optimize`: {RECIPE}, quality check passed", facts={"quality": quality})
    store.write_bytes(entry, source, data)
    return derived_path(source)


def optimize(settings: Settings, version: str, *, force: bool = False, voices: Sequence[str] | None = None,
             calibration_texts: Sequence[str] = CALIBRATION_TEXTS, check_texts: Sequence[str] = CHECK_TEXTS,
             progress: Callable[[str], None] = lambda message: None) -> Optimized:
    from kokoro_server.service import SpeechService

    service = SpeechService(settings)
    build = get_build(version)
    location = service.models.locate(build)
    if location.format != "onnx":
        raise InvalidInputError(f"optimize works on the ONNX model; {build.version} runs {location.path.name}",
                                param="model")
    source = location.path
    if not force and usable_derived(source) is not None:
        return Optimized(source, derived_path(source), 0, None)
    onnx = _import_onnx()
    from kokoro_server.optimize.rewrite import NOISE_BRANCH, Range, find_chains, quantize_statically

    model = onnx.load(str(source))
    chains = find_chains(model, NOISE_BRANCH.search)
    if not chains:
        raise InvalidInputError(f"{source.name} has no dynamically quantized vocoder convs: only the int8 "
                                "export can be optimized", param="model")
    chosen = _voices(service, build, voices)
    progress(f"calibrating {len(chains)} convs on {len(calibration_texts) * len(chosen)} utterances")
    tensors = sorted({c.x for c in chains} | {c.y for c in chains})
    calibration = _utterances(service, build, chosen, calibration_texts)
    ranges = {name: Range(low, high) for name, (low, high) in _ranges(model, tensors, calibration, settings).items()}
    quantize_statically(model, chains, ranges)
    data = model.SerializeToString()
    progress("checking durations and spectrum against the original")
    check = quality_check(source, data, _utterances(service, build, chosen, check_texts), settings)
    if not check.passed:
        raise QualityCheckFailed(
            f"the optimized model failed its quality check (durations identical: {check.durations_identical}, "
            f"log-mel distance mean {check.mean_db:.2f} dB (bar {MAX_MEAN_DB}), max {check.max_db:.2f} dB "
            f"(bar {MAX_DB})); nothing was installed and {source.name} stays in use")
    path = install(source, data, {"recipe_convs": len(chains), **asdict(check)})
    return Optimized(source, path, len(chains), check)


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise BackendUnavailableError("`kokoro-server optimize` needs the onnx package: "
                                      "pip install 'kokoro-server[optimize]'") from exc
    return onnx


def _voices(service: Any, build: Build, requested: Sequence[str] | None) -> list[str]:
    if requested:
        return list(requested)
    installed = [v for v in VOICES if service.voices.has(build, v)]
    installed = installed or [v.name for v in service.voices.list(build) if v.supported][:2]
    if not installed:
        raise InvalidInputError(f"optimize needs at least one {build.version} voice to calibrate with; "
                                f"none is installed", param="voice")
    return installed


def _utterances(service: Any, build: Build, voices: Sequence[str], texts: Sequence[str]) -> list[Utterance]:
    from kokoro_server.voices.mix import parse_mix

    phonemize = build.make_phonemizer("a")
    result = []
    for voice in voices:
        pack = service.voices.resolve(build, parse_mix(voice))
        for text in texts:
            tokens = build.tokenize(phonemize(normalize_text(text)))[:MAX_TOKENS]
            result.append(Utterance(voice, text, tokens, pack[len(tokens) - 1].reshape(1, -1)))
    return result


def _session(model: str | bytes, settings: Settings) -> Any:
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.threads or usable_cores()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def _feeds(utterance: Utterance) -> dict[str, np.ndarray]:
    return {"tokens": np.array([[0, *utterance.tokens, 0]], dtype=np.int64), "style": utterance.style,
            "speed": np.array([1.0], dtype=np.float32)}


def _ranges(model: Any, tensors: list[str], utterances: list[Utterance], settings: Settings) -> dict[str, tuple[float, float]]:
    """Per tensor: the widest [low, high] percentile range over the calibration utterances."""
    import onnx

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(t) for t in tensors if t not in known)
    session = _session(probe.SerializeToString(), settings)
    del probe
    ranges: dict[str, tuple[float, float]] = {}
    for utterance in utterances:
        values = dict(zip([o.name for o in session.get_outputs()], session.run(None, _feeds(utterance))))
        for name in tensors:
            low, high = np.percentile(values[name], [100 - PERCENTILE, PERCENTILE])
            old_low, old_high = ranges.get(name, (np.inf, -np.inf))
            ranges[name] = (min(old_low, float(low)), max(old_high, float(high)))
    return ranges


def quality_check(source: Path, derived: bytes | Path, utterances: list[Utterance], settings: Settings) -> QualityCheck:
    """Durations (audio lengths) and log-mel distance of the derived model against the source."""
    original = _session(str(source), settings)
    candidate = _session(derived if isinstance(derived, bytes) else str(derived), settings)
    same_lengths, distances, timings = True, [], [0.0, 0.0]
    for utterance in utterances:
        outputs = []
        for i, session in enumerate((original, candidate)):
            start = time.perf_counter()
            outputs.append(session.run(None, _feeds(utterance))[0].reshape(-1))
            timings[i] += time.perf_counter() - start
        same_lengths = same_lengths and outputs[0].size == outputs[1].size
        distances.append(log_mel_distance(outputs[0], outputs[1]))
    return QualityCheck(len(utterances), same_lengths, float(np.mean(distances)), float(np.max(distances)),
                        timings[0], timings[1])


def run(settings: Settings, version: str, *, force: bool, quiet: bool) -> int:
    """The CLI command: optimize and print what happened."""
    import sys

    say = (lambda message: None) if quiet else (lambda message: print(message, file=sys.stderr))
    done = optimize(settings, version, force=force, progress=say)
    if done.check is None:
        print(f"{done.path} is up to date (made from {done.source.name}); --force makes it again")
        return 0
    check = done.check
    print(f"wrote {done.path}: {done.convs} vocoder convs as static int8; check on {check.utterances} utterances: "
          f"durations identical, log-mel distance mean {check.mean_db:.2f} dB, max {check.max_db:.2f} dB; "
          f"time {check.source_seconds:.1f} s -> {check.derived_seconds:.1f} s "
          f"(x{check.source_seconds / check.derived_seconds:.2f}). It is used from the next model load "
          f"(KOKORO_USE_OPTIMIZED_MODEL=false turns it off).")
    return 0
