"""The variant of an ONNX model that also outputs its predicted durations, derived once and kept.

Word timestamps need the frames the duration predictor gives each phoneme token. The torch backend
gets them from ``KModel``; most ONNX exports (the embedded int8 model among them) output audio
only, yet the rounded frame counts are computed inside the graph: ``Round`` -> ``Clip`` (at least
one frame) -> ``Cast`` to int64, which the length regulator then sums up. The variant adds that
tensor as a second graph output, ``durations``, and changes nothing else. Before it is kept it is
checked: on a few fixed utterances its audio must equal the source's bit for bit, and the frames
must add up to the audio's length. It lives in ``.durations/`` beside the model file the backend
runs (the embedded model, a user's export or ``kokoro-server optimize``'s derived file), with a
manifest keyed by that file's SHA-256; a stale, missing or corrupt variant is derived again. A
model that already has a ``durations`` output is run as it is; one without a recognisable duration
predictor is run as it is too, and timestamps are refused for it with the reason.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kokoro_server.engine.base import FRAME_SAMPLES
from kokoro_server.files import TempFile, file_sha256, unchanged, write_atomic

log = logging.getLogger("kokoro_server.engine")

FOLDER = ".durations"
OUTPUT = "durations"
RECIPE = "durations-output/1"
"""What the derivation does; bumping it retires variants made by an older recipe."""

Kind = Literal["variant", "source", "none"]


@dataclass(frozen=True)
class DurationsModel:
    """The file to run and whether it outputs durations (``problem`` says why not)."""

    path: Path
    problem: str | None = None

    @property
    def has_durations(self) -> bool:
        return self.problem is None


@dataclass
class Manifest:
    recipe: str
    source_file: str
    source_size: int
    source_mtime_ns: int
    source_sha256: str
    kind: Kind  # variant: run the derived file; source: the source has the output; none: no durations
    tensor: str | None = None  # the graph tensor exposed as ``durations``
    size: int = 0
    sha256: str = ""
    checked_utterances: int = 0
    problem: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def variant_path(source: Path) -> Path:
    return source.parent / FOLDER / source.name


def manifest_path(source: Path) -> Path:
    return source.parent / FOLDER / f"{source.name}.json"


def with_durations(source: Path, *, threads: int = 1) -> DurationsModel:
    """The model file to run for ``source``: its durations variant (derived now if needed), the
    source itself when it already outputs durations, or the source with the reason it cannot."""
    manifest = _read_manifest(source)
    if manifest is not None:
        result = from_manifest(source, manifest)
        if result is not None:
            return result
    try:
        return _derive(source, threads)
    except OSError as exc:
        problem = f"the durations variant of {source.name} cannot be stored in {source.parent / FOLDER} " \
                  f"({exc.strerror or exc})"
        log.warning("%s; word timestamps are unavailable for it", problem)
        return DurationsModel(source, problem)
    except Exception as exc:  # a corrupt file (protobuf's DecodeError, onnxruntime's own types): the
        # backend then reports the file itself when it opens it
        problem = f"the durations output of {source.name} could not be derived ({type(exc).__name__}: {exc})"
        log.warning("%s; word timestamps are unavailable for it", problem)
        return DurationsModel(source, problem)


def _read_manifest(source: Path) -> Manifest | None:
    try:
        return Manifest(**json.loads(manifest_path(source).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        log.warning("%s is unreadable; deriving the durations variant of %s again", manifest_path(source),
                    source.name)
        return None


def from_manifest(source: Path, manifest: Manifest) -> DurationsModel | None:
    """What the manifest records, if it still holds for ``source``; None to derive again."""
    try:
        if manifest.recipe != RECIPE or manifest.source_file != source.name or not unchanged(
                source, manifest.source_size, manifest.source_mtime_ns, manifest.source_sha256):
            return None
        if manifest.kind == "source":
            return DurationsModel(source)
        if manifest.kind == "none":
            return DurationsModel(source, manifest.problem or "the model outputs no durations")
        variant = variant_path(source)
        if variant.stat().st_size == manifest.size and file_sha256(variant) == manifest.sha256:
            return DurationsModel(variant)
        log.warning("the durations variant of %s is corrupt; deriving it again", source.name)
    except OSError:
        pass
    return None


def find_durations_tensor(graph: Any) -> str | None:
    """The int64 frames per token: the output of ``Cast(to=int64)`` of ``Clip`` of ``Round`` (what
    ``round(d).clamp(min=1).long()`` of Kokoro's duration predictor exports to); None unless exactly one."""
    producer = {output: node for node in graph.node for output in node.output}

    def made_by(tensor: str, op: str) -> Any:
        node = producer.get(tensor)
        return node if node is not None and node.op_type == op else None

    found = []
    for node in graph.node:
        if node.op_type != "Cast" or not any(a.name == "to" and a.i == 7 for a in node.attribute):  # 7: INT64
            continue
        clip = made_by(node.input[0], "Clip")
        if clip is not None and made_by(clip.input[0], "Round") is not None:
            found.append(node.output[0])
    return found[0] if len(found) == 1 else None


def _derive(source: Path, threads: int) -> DurationsModel:
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError:
        return DurationsModel(source, "deriving the durations output needs the onnx package (pip install onnx)")
    stat = source.stat()
    model = onnx.load(str(source))
    base = dict(recipe=RECIPE, source_file=source.name, source_size=stat.st_size,
                source_mtime_ns=stat.st_mtime_ns, source_sha256=file_sha256(source))
    if any(output.name == OUTPUT for output in model.graph.output):
        _write_manifest(source, Manifest(**base, kind="source"))
        return DurationsModel(source)
    tensor = find_durations_tensor(model.graph)
    if tensor is None:
        problem = (f"{source.name} has no durations output and no duration predictor the server "
                   "recognises (Round -> Clip -> Cast to int64), so it cannot give word timestamps")
        _write_manifest(source, Manifest(**base, kind="none", problem=problem))
        log.warning("%s", problem)
        return DurationsModel(source, problem)
    model.graph.node.append(helper.make_node("Identity", [tensor], [OUTPUT], name="kokoro_server_durations"))
    model.graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.INT64, None))
    data = model.SerializeToString()
    del model
    folder = source.parent / FOLDER
    folder.mkdir(exist_ok=True)
    variant = variant_path(source)
    with TempFile(variant) as temp:  # the mode a plain open() gives; deleted unless committed
        temp.file.write(data)
        temp.file.flush()
        problem, checked = check_variant(source, temp.path, threads=threads)
        if problem is not None:
            problem = f"the durations output of {source.name} failed its check ({problem})"
            _write_manifest(source, Manifest(**base, kind="none", tensor=tensor, problem=problem))
            log.warning("%s; word timestamps are unavailable for it", problem)
            return DurationsModel(source, problem)
        temp.commit()
    _write_manifest(source, Manifest(**base, kind="variant", tensor=tensor, size=len(data),
                                     sha256=file_sha256(variant), checked_utterances=checked))
    log.info("derived %s (adds the durations output %s; audio checked identical on %d utterances)",
             variant, tensor, checked)
    return DurationsModel(variant)


def _write_manifest(source: Path, manifest: Manifest) -> None:
    manifest_path(source).parent.mkdir(exist_ok=True)
    write_atomic(manifest_path(source), manifest.to_json().encode())


CHECK_UTTERANCES: tuple[tuple[tuple[int, ...], float], ...] = (
    (tuple(range(43, 55)), 1.0),
    ((50, 16, 83, 156, 16, 102, 57, 16, 135, 68, 4), 1.4),
    (tuple(range(20, 60, 4)), 0.8),
)
"""Token ids (inside every Kokoro vocabulary) and speeds the variant is checked on."""


def check_variant(source: Path, variant: Path, *, threads: int = 1) -> tuple[str | None, int]:
    """(None, utterances) when ``variant`` gives the same audio as ``source`` bit for bit and
    durations that add up to it; else (what differs, utterances checked)."""
    from kokoro_server.engine.onnx_runtime import import_onnxruntime

    ort = import_onnxruntime()

    def session(path: Path) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.enable_mem_pattern = False
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])

    original, derived = session(source), session(variant)
    inputs = {i.name: i for i in original.get_inputs()}
    token_input = "tokens" if "tokens" in inputs else "input_ids"
    speed_dtype = np.int32 if "int" in inputs["speed"].type else np.float32
    style = np.random.default_rng(15).normal(0.0, 0.15, size=(1, 256)).astype(np.float32)
    audio_output = original.get_outputs()[0].name
    for count, (tokens, speed) in enumerate(CHECK_UTTERANCES, 1):
        feeds = {token_input: np.array([[0, *tokens, 0]], dtype=np.int64), "style": style,
                 "speed": np.array([speed], dtype=speed_dtype)}
        expected = original.run([audio_output], feeds)[0]
        audio, durations = derived.run([audio_output, OUTPUT], feeds)
        if not np.array_equal(expected, audio):
            return "its audio differs from the source's", count
        durations = np.asarray(durations).reshape(-1)
        if durations.size != len(tokens) + 2 or int(durations.sum()) * FRAME_SAMPLES != np.asarray(audio).size:
            return "its frames do not add up to the audio's length", count
    return None, len(CHECK_UTTERANCES)
