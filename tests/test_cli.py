"""The command line as a user runs it: a real process, real files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.audio import assert_speech_like, decode


def run(args: list[str], data_dir: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KOKORO_DATA_DIR": str(data_dir), "KOKORO_THREADS": "2"}
    return subprocess.run([sys.executable, "-m", "kokoro_server.cli", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=300)


def test_say_hello_writes_a_wav(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "hello.wav"
    result = run(["say", "Hello from Kokoro.", "-o", str(out)], data_dir)
    assert result.returncode == 0, result.stderr
    audio, rate = decode(out.read_bytes())
    assert rate == 24_000
    assert_speech_like(audio, min_seconds=0.8, max_seconds=3.0)
    assert "wrote" in result.stderr


def test_say_reads_stdin_and_picks_format_from_extension(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "nested" / "speech.mp3"
    result = run(["say", "-", "-o", str(out), "-v", "af_bella(2)+af_sky(1)", "--speed", "1.2"], data_dir,
                 stdin="Reading from standard input works.")
    assert result.returncode == 0, result.stderr
    audio, _ = decode(out.read_bytes(), "mp3")
    assert_speech_like(audio, min_seconds=1.0, max_seconds=4.0)


@pytest.mark.parametrize("args, message", [
    (["say", "Hi", "-o", "x.wav", "-v", "af_nobody"], "voice 'af_nobody' is not installed"),
    (["say", "Hi", "-o", "x.wav", "-v", "af_heart("], "malformed voice mix"),
    (["say", "", "-o", "x.wav"], "input text is empty"),
    (["say", "Hi", "-o", "x.xyz"], "cannot tell the audio format"),
    (["say", "Hi", "-o", "x.wav", "--speed", "9"], "speed must be between"),
    (["say", "Hi", "-o", "x.wav", "-m", "v9"], "unknown model"),
])
def test_bad_input_is_a_message_and_exit_code(data_dir: Path, tmp_path: Path, args: list[str], message: str) -> None:
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    result = run(args, data_dir)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir()), "no partial output file may be left"


def test_voices_and_models_listings(data_dir: Path) -> None:
    voices = run(["voices", "-m", "v1_0"], data_dir)
    assert voices.returncode == 0
    assert "68 voices" in voices.stdout and "af_heart" in voices.stdout and "female" in voices.stdout
    models = run(["models"], data_dir)
    assert models.returncode == 0
    assert "v1_0 (Kokoro-82M v1.0): ready" in models.stdout
    assert "v0_19 (Kokoro-82M v0.19): NOT READY" in models.stdout and "kokoro-v0_19.pth" in models.stdout
