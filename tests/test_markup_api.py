"""Markup, SSML, the lexicon and the /dev phoneme endpoints over HTTP and in the CLI (real server, model, voices)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.support.audio import SAMPLE_RATE, assert_speech_like, decode
from tests.support.server import plain_server, writable_data_dir
from tests.test_cli import run


@pytest.fixture(scope="module")
def root(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return writable_data_dir(tmp_path_factory.mktemp("markup-data"), data_dir)


@pytest.fixture(scope="module")
def http(root: Path):
    with plain_server(root) as client:
        yield client


def speech(http: httpx.Client, text: str, **extra) -> httpx.Response:
    return http.post("/v1/audio/speech", json={"input": text, "voice": "af_heart", "response_format": "wav",
                                               "stream": False, **extra})


@pytest.mark.parametrize("text, extra, status, words", [
    ("<speak>\n<s>Hello</speak>", {}, 400, ["line 2, column"]),
    ("Hello", {"input_format": "ssml"}, 400, ["SSML", "line 1"]),
    ("Say [cat](/kæ§t/).", {}, 400, ["'§'", "input character 13"]),
    ("Hi [voice:af_nobody] there.", {}, 400, ["af_nobody", "input characters 3-20"]),
    ("Hi [pause:999s] there.", {}, 400, ["longer than"]),
    ('<speak><!DOCTYPE x [<!ENTITY a "b">]>&a;</speak>', {}, 400, ["SSML"]),
])
def test_markup_errors_are_400_naming_the_place(http: httpx.Client, text: str, extra: dict, status: int,
                                                 words: list[str]) -> None:
    response = speech(http, text, **extra)
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert all(w in message for w in words), message


def test_unknown_ssml_tags_are_spoken_with_a_notice(http: httpx.Client) -> None:
    response = speech(http, "<speak>Hello <token>there</token>.</speak>")
    assert response.status_code == 200, response.text
    assert "<token>" in response.headers["X-Kokoro-Notice"]
    audio, _ = decode(response.content)
    assert_speech_like(audio, min_seconds=0.5, max_seconds=4)


def test_markup_false_speaks_the_brackets(http: httpx.Client) -> None:
    on, _ = decode(speech(http, "One [pause:2s] two.").content)
    off, _ = decode(speech(http, "One [pause:2s] two.", markup=False).content)
    silent = lambda a: np.abs(a) < 0.005  # noqa: E731
    longest = [max((len(run) for run in "".join("1" if s else "0" for s in silent(a)).split("0")), default=0)
               / SAMPLE_RATE for a in (on, off)]
    assert longest[0] >= 1.95 and longest[1] < 1.0, longest  # off: "pause two s" is said, no silence


def test_phonemize_and_generate_from_phonemes(http: httpx.Client) -> None:
    response = http.post("/dev/phonemize", json={"text": "Hello world!", "language": "a"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"phonemes", "tokens"} and "wˈɜɹld" in body["phonemes"]
    assert body["tokens"][0] == 0 and body["tokens"][-1] == 0 and len(body["tokens"]) == len(body["phonemes"]) + 2
    audio = http.post("/dev/generate_from_phonemes", json={"phonemes": body["phonemes"], "voice": "af_heart"})
    assert audio.status_code == 200 and audio.headers["content-type"].startswith("audio/wav"), audio.text
    samples, rate = decode(audio.content)
    assert rate == SAMPLE_RATE
    assert_speech_like(samples, min_seconds=0.5, max_seconds=3)
    bad = http.post("/dev/generate_from_phonemes", json={"phonemes": "hɛ§lo", "voice": "af_heart"})
    assert bad.status_code == 400 and "'§'" in bad.json()["error"]["message"]
    assert http.post("/dev/phonemize", json={"text": "hi", "language": "x"}).status_code == 400


def test_lexicon_is_validated_applied_and_reloaded(http: httpx.Client, root: Path) -> None:
    folder = root / "lexicon"
    folder.mkdir(exist_ok=True)
    lexicon = folder / "a.json"
    lexicon.write_text(json.dumps({"kokoro": "kˈOkəɹO", "NASA": "nˈɑsɑ", "broken": "x§y"}, ensure_ascii=False,
                                  indent=1), encoding="utf-8")
    listed = http.get("/v1/lexicon").json()["lexicons"]
    assert [x["lang"] for x in listed] == ["a"]
    assert listed[0]["entries"] == {"kokoro": "kˈOkəɹO", "NASA": "nˈɑsɑ"}
    assert len(listed[0]["problems"]) == 1 and "a.json:4" in listed[0]["problems"][0], listed[0]["problems"]

    def phonemes(text: str) -> str:
        return http.post("/dev/phonemize", json={"text": text}).json()["phonemes"]
    assert "kˈOkəɹO" in phonemes("I like Kokoro.")  # a lower-case entry matches any case
    assert "nˈɑsɑ" in phonemes("NASA flies.") and "nˈɑsɑ" not in phonemes("nasa flies.")  # capitals: exact
    lexicon.unlink()
    (folder / "a.tsv").write_text("# word<TAB>phonemes\nkokoro\tkəkˈɔɹO\n", encoding="utf-8")
    assert "kəkˈɔɹO" in phonemes("I like Kokoro.")  # read again when it changes
    (folder / "a.tsv").unlink()


def test_cli_say_no_markup_and_lexicon(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "literal.wav"
    result = run(["say", "Brackets [like this](/x/) are read.", "--no-markup", "-o", str(out)], root)
    assert result.returncode == 0, result.stderr
    audio, _ = decode(out.read_bytes())
    assert_speech_like(audio, min_seconds=1.0, max_seconds=8)
    failed = run(["say", "Say [cat](/kæ§t/).", "-o", str(tmp_path / "bad.wav")], root)
    assert failed.returncode != 0 and "'§'" in failed.stderr
    (root / "lexicon").mkdir(exist_ok=True)
    (root / "lexicon" / "b.tsv").write_text("tomato\ttəmˈɑːtəʊ\nbad line\n", encoding="utf-8")
    listed = run(["lexicon"], root)
    assert "tomato\ttəmˈɑːtəʊ" in listed.stdout and "b.tsv:2" in listed.stderr and listed.returncode == 1
