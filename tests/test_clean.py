"""Input cleaning at the start of the text layer: text that is legal JSON but breaks front ends
(lone surrogates, control characters, digits of other scripts) is made safe one character for one,
and a real server speaks it (200 with audio) in every front end instead of answering 500."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kokoro_server.text.clean import clean_input
from tests.support.audio import assert_speech_like, decode
from tests.support.server import plain_server


@pytest.mark.parametrize("text, expected", [
    ("\ud800 hello", "  hello"),
    ("a\udfffb", "a b"),
    ("a\x00b\x07c\x7fd", "a b c d"),
    ("tab\tand\nnew\r\nline", "tab\tand\nnew\r\nline"),
    ("c1\x85control\x9f", "c1 control "),
    ("٣ ٤٥", "3 45"),  # Arabic-Indic
    ("۱۲۳", "123"),  # extended Arabic-Indic (Persian)
    ("२०२४", "2024"),  # Devanagari
    ("১২", "12"),  # Bengali
    ("１２３", "123"),  # fullwidth
    ("x²", "x²"),  # superscripts are no decimal digits
    ("日本語 café", "日本語 café"),
    ("line\u2028break", "line\nbreak"),
    ("non\ufffechar\U0010ffff", "non char "),
])
def test_clean_input_replaces_one_character_for_one(text: str, expected: str) -> None:
    cleaned = clean_input(text)
    assert cleaned == expected
    assert len(cleaned) == len(text)  # offsets into the cleaned text are offsets into the input


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(categories=["Cs", "Cc", "Cf", "Cn", "Co", "Nd", "No", "Lu", "Ll", "Lo", "Mn",
                                                  "Zs", "Zl", "Zp", "Sm", "Sc", "So", "Po", "Pd"]), max_size=80))
def test_cleaned_text_keeps_its_length_and_encodes_to_utf8(text: str) -> None:
    cleaned = clean_input(text)
    assert len(cleaned) == len(text)
    cleaned.encode("utf-8")  # no lone surrogate survives
    assert not any(ch.isdigit() and not ch.isascii() and ch.isdecimal() for ch in cleaned)


@pytest.mark.timeout(30)  # one pass: well under a second; a quadratic one: minutes, and fails here
def test_clean_input_is_linear_on_a_long_mixed_text() -> None:
    text = ("٣\ud800a\x00日" * 25_000)
    cleaned = clean_input(text)
    assert len(cleaned) == len(text) and cleaned.startswith("3 a 日")


# -- through the real server: every front end speaks such input -----------------------------

@pytest.fixture(scope="module")
def http(data_dir: Path):
    with plain_server(data_dir) as client:
        yield client


@pytest.mark.parametrize("voice, text", [
    ("af_heart", "\ud800 hello there"),
    ("jf_alpha", "\ud800 こんにちは"),
    ("jf_alpha", "値段は٣٤٥円と२०२४年と১২個です。"),
    ("ef_dora", "\ud800 hola, tengo ٣ gatos"),
    ("zf_xiaobei", "\udc00 我有٣只猫"),
    ("af_heart", "It costs \x00 $5 and ٣ apples \x1b today."),
])
def test_server_speaks_text_that_used_to_break_a_front_end(http: httpx.Client, voice: str, text: str) -> None:
    # json.dumps keeps the lone surrogate as the escape "\ud800", legal JSON as a client would send it
    body = json.dumps({"model": "kokoro", "input": text, "voice": voice, "response_format": "pcm",
                       "stream": False})
    response = http.post("/v1/audio/speech", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    audio, _ = decode(response.content, "pcm")
    assert_speech_like(audio, min_seconds=0.3, max_seconds=15.0)
