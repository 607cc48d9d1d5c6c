"""Audio encoders for mp3, opus, aac, flac, wav, pcm, mu-law and A-law, all streaming-capable.

Two tables say what each format is: :data:`FORMATS`, the OpenAI API's ``response_format`` names (24 kHz),
and :data:`OUTPUT_FORMATS`, ElevenLabs' ``output_format`` names ``<codec>_<rate>[_<kbps>]`` (``pcm_16000``,
``mp3_44100_128``, ``ulaw_8000`` for telephony, ``opus_48000_64``). One class encodes chunk by chunk:
feed float32 audio as it is synthesized and get bytes back that can be sent at once. Another sample
rate is reached through FFmpeg's resampler (PyAV's ``AudioResampler``, its state kept across
chunks); compressed formats and the G.711 codecs use PyAV's encoders, so joins have no gaps or clicks.
Formats written here (wav, pcm) may have a header (:attr:`AudioFormat.header`): streamed with open-ended
sizes, set to the real ones by :func:`seal_file` once a whole file is written. Adding a format is one
entry in a table (the API, the CLI and the web page read them).
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from kokoro_server import SAMPLE_RATE
from kokoro_server.errors import UnsupportedFormatError, quote


@dataclass(frozen=True)
class AudioFormat:
    name: str
    content_type: str
    extension: str
    container: str | None = None  # PyAV muxer; None = written here (wav, pcm)
    codec: str | None = None
    bit_rate: int | None = None
    mux_options: tuple[tuple[str, str], ...] = ()  # PyAV/FFmpeg muxer options
    sample_rate: int = SAMPLE_RATE  # another rate than the model's is resampled to
    header: Callable[[int | None], bytes] | None = None  # written here: the header for N data bytes (None: unknown)
    other_extensions: tuple[str, ...] = ()  # file suffixes that also mean this format (``say -o x.ogg``)

    @property
    def header_bytes(self) -> int:
        return len(self.header(0)) if self.header is not None else 0

    @property
    def bytes_per_second(self) -> int | None:
        """Raw formats' data rate (pcm: 16-bit, G.711: 8-bit samples); None for compressed ones."""
        if self.container is not None:
            return None
        return self.sample_rate * (1 if self.codec else 2)


def wav_header(data_bytes: int | None) -> bytes:
    """A 16-bit mono 24 kHz WAV header; ``None`` = unknown length (streaming), sizes set to maximum."""
    size = 0xFFFFFFFF - 36 if data_bytes is None else data_bytes
    return (b"RIFF" + struct.pack("<I", min(36 + size, 0xFFFFFFFF)) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16) +
            b"data" + struct.pack("<I", size))


# Raw MPEG frames, no ID3 tag (nor Xing header): responses joined into one stream stay a valid stream.
_BARE_MP3 = (("id3v2_version", "0"), ("write_xing", "0"))

FORMATS: dict[str, AudioFormat] = {f.name: f for f in (
    AudioFormat("mp3", "audio/mpeg", "mp3", "mp3", "libmp3lame", 128_000, _BARE_MP3),
    AudioFormat("opus", "audio/ogg; codecs=opus", "opus", "ogg", "libopus", 64_000, other_extensions=("ogg",)),
    AudioFormat("aac", "audio/aac", "aac", "adts", "aac", 128_000),
    AudioFormat("flac", "audio/flac", "flac", "flac", "flac"),
    AudioFormat("wav", "audio/wav", "wav", header=wav_header),
    AudioFormat("pcm", "audio/pcm", "pcm", other_extensions=("raw",)),
)}


def _output_formats() -> dict[str, AudioFormat]:
    """ElevenLabs' ``output_format`` names: ``<codec>_<sample rate>[_<kbps>]``."""
    formats = [AudioFormat(f"pcm_{rate}", "audio/pcm", "pcm", sample_rate=rate)
               for rate in (8000, 16000, 22050, 24000, 32000, 44100, 48000)]
    formats += [AudioFormat("ulaw_8000", "audio/basic", "ulaw", codec="pcm_mulaw", sample_rate=8000),
                AudioFormat("alaw_8000", "audio/x-alaw-basic", "alaw", codec="pcm_alaw", sample_rate=8000)]
    formats += [AudioFormat(f"mp3_{rate}_{kbps}", "audio/mpeg", "mp3", "mp3", "libmp3lame", kbps * 1000, _BARE_MP3,
                            sample_rate=rate)
                for rate, kbps in ((22050, 32), (24000, 48), (44100, 32), (44100, 64), (44100, 96), (44100, 128),
                                   (44100, 192))]
    formats.append(AudioFormat("mp3_44100", "audio/mpeg", "mp3", "mp3", "libmp3lame", 128_000, _BARE_MP3,
                               sample_rate=44100))
    formats += [AudioFormat(f"opus_48000_{kbps}", "audio/ogg; codecs=opus", "opus", "ogg", "libopus", kbps * 1000,
                            sample_rate=48000) for kbps in (32, 64, 96, 128, 192)]
    return {f.name: f for f in formats}


OUTPUT_FORMATS: dict[str, AudioFormat] = _output_formats()


def get_output_format(name: str) -> AudioFormat:
    """An ElevenLabs ``output_format`` name."""
    return _named(OUTPUT_FORMATS, name, "output_format")


def get_format(name: str) -> AudioFormat:
    """An OpenAI ``response_format`` name."""
    return _named(FORMATS, name, "response_format")


def _named(table: dict[str, AudioFormat], name: str, param: str) -> AudioFormat:
    try:
        return table[name.lower()]
    except KeyError:
        raise UnsupportedFormatError(f"unsupported {param} {quote(name)}; use one of: {', '.join(table)}",
                                     param=param) from None


def format_for_path(path: str) -> AudioFormat:
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    for fmt in FORMATS.values():
        if suffix == fmt.extension or suffix in fmt.other_extensions:
            return fmt
    raise UnsupportedFormatError(f"cannot tell the audio format from {quote(path)}; use a file ending in "
                                 f"{', '.join('.' + f.extension for f in FORMATS.values())}")


def to_int16(audio: np.ndarray, volume: float = 1.0) -> np.ndarray:
    scaled = np.nan_to_num(np.asarray(audio, dtype=np.float32) * volume, nan=0.0)
    return (np.clip(scaled, -1.0, 1.0) * 32767.0).round().astype("<i2")


class _Sink(io.RawIOBase):
    """A write-only file that hands out what was written since the last ``take``."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class StreamingEncoder:
    """``encode(chunk) -> bytes`` for each chunk, then ``finish() -> bytes`` once."""

    def __init__(self, fmt: AudioFormat | str, *, volume: float = 1.0, streaming: bool = True) -> None:
        self.format = get_format(fmt) if isinstance(fmt, str) else fmt
        self._volume = volume
        self._streaming = streaming
        self._started = False
        self._finished = False
        self._resampler = self._open_resampler() if self.format.sample_rate != SAMPLE_RATE else None
        self._codec = self._open_codec() if self.format.container is None and self.format.codec else None
        if self.format.container is not None:
            self._open_av()

    def _open_resampler(self):  # type: ignore[no-untyped-def]
        import av

        return av.AudioResampler(format="s16", layout="mono", rate=self.format.sample_rate)

    def _open_codec(self):  # type: ignore[no-untyped-def]
        """A bare PyAV encoder (no container): the G.711 codecs, whose bytes are the stream."""
        import av

        codec = av.CodecContext.create(self.format.codec, "w")
        codec.sample_rate = self.format.sample_rate
        codec.layout = "mono"
        codec.format = "s16"
        return codec

    def _resampled(self, samples: np.ndarray | None) -> np.ndarray:
        """``samples`` (int16 at 24 kHz; None: the end) at the format's rate, as far as the resampler
        has them (it keeps a few samples of history between calls)."""
        import av

        if samples is not None and not samples.size:
            return samples
        frame = None
        if samples is not None:
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = SAMPLE_RATE
        parts = [out.to_ndarray().reshape(-1) for out in self._resampler.resample(frame)]
        return np.concatenate(parts).astype("<i2") if parts else np.zeros(0, dtype="<i2")

    def _raw(self, samples: np.ndarray) -> bytes:
        """Samples at the format's rate as the bytes of a raw format (pcm, or G.711 through its codec)."""
        if self._codec is None:
            return samples.tobytes()
        if not samples.size:
            return b""
        import av

        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.format.sample_rate
        return b"".join(bytes(packet) for packet in self._codec.encode(frame))

    def _open_av(self) -> None:
        import av

        self._sink = _Sink()
        self._container = av.open(self._sink, mode="w", format=self.format.container,
                                  options=dict(self.format.mux_options))
        stream = self._container.add_stream(self.format.codec, rate=self.format.sample_rate)
        stream.layout = "mono"
        if self.format.bit_rate:
            stream.bit_rate = self.format.bit_rate
        self._stream = stream
        self._pts = 0

    def encode(self, audio: np.ndarray) -> bytes:
        if self._finished:
            raise RuntimeError("encoder already finished")
        samples = to_int16(audio, self._volume)
        if self._resampler is not None:
            samples = self._resampled(samples)
        if self.format.container is None:
            head = b""
            if not self._started and self.format.header is not None:
                head = self.format.header(None)
            self._started = True
            return head + self._raw(samples)
        return self._encode_av(samples)

    def _encode_av(self, samples: np.ndarray | None) -> bytes:
        import av

        if samples is not None and samples.size:
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = self.format.sample_rate
            frame.pts = self._pts
            self._pts += samples.size
            packets = self._stream.encode(frame)
        elif samples is None:
            packets = self._stream.encode(None)
        else:
            packets = []
        for packet in packets:
            self._container.mux(packet)
        return self._sink.take()

    def finish(self) -> bytes:
        if self._finished:
            return b""
        self._finished = True
        rest = self._resampled(None) if self._resampler is not None else None  # the resampler's last samples
        if self.format.container is None:
            if self.format.header is not None and not self._started:
                tail = self.format.header(0)
            else:
                tail = self._raw(rest) if rest is not None else b""
            self._release_av()
            return tail
        tail = self._encode_av(rest) if rest is not None and rest.size else b""
        tail += self._encode_av(None)
        self._container.close()
        self._release_av()
        return tail + self._sink.take()

    def close(self) -> None:
        """Give up an unfinished encoding (the client left): free the codec now."""
        if self._finished:
            return
        self._finished = True
        if self.format.container is not None:
            try:
                self._container.close()
            except Exception:  # pragma: no cover - closing a half-written container may complain
                pass
            self._sink.take()
        self._release_av()

    def _release_av(self) -> None:
        """Drop the container, stream, resampler and codec now: PyAV's resampler runs a filter graph with a thread per
        core that lives as long as the codec does, so a finished or abandoned encoder must not wait
        for the garbage collector to free them (threads piled up after disconnect storms)."""
        self._container = self._stream = None  # type: ignore[assignment]
        self._resampler = self._codec = None


def seal_file(fmt: AudioFormat, handle: BinaryIO, size: int) -> None:
    """Make a streamed file of ``size`` bytes complete in place: a header written with open-ended
    sizes (a streamed WAV) gets the real ones. The one place a header is fixed up."""
    if fmt.header is None or size < fmt.header_bytes:
        return
    handle.seek(0)
    handle.write(fmt.header(size - fmt.header_bytes))
    handle.seek(0, os.SEEK_END)


def encode_whole(audio: np.ndarray, fmt: AudioFormat | str, *, volume: float = 1.0) -> bytes:
    """A complete file in one go (WAV gets exact sizes in its header)."""
    fmt = get_format(fmt) if isinstance(fmt, str) else fmt
    if fmt.header is not None:
        data = to_int16(audio, volume).tobytes()
        return fmt.header(len(data)) + data
    encoder = StreamingEncoder(fmt, volume=volume, streaming=False)
    return encoder.encode(audio) + encoder.finish()
