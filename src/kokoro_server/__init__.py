"""kokoro-server: an OpenAI-compatible text-to-speech server for Kokoro-82M."""

__version__ = "0.1.0"

SAMPLE_RATE = 24_000
"""Every Kokoro build produces mono float32 audio at 24 kHz."""
