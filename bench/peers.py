"""The peers: other ways to run Kokoro on a CPU, installed from PyPI into their own venv.

- fastkokoro 0.7.0: an OpenAI-compatible ONNX Kokoro server, run offline with
  ``FASTKOKORO_MODEL_PATH`` / ``FASTKOKORO_VOICES_PATH`` (a ``.npz`` of name -> [510, 1, 256] float32
  style packs, built here from our ``.pt`` voice with ``voices/torch_pickle.py``).
- kokoro-onnx 0.6.1: a library; its ``create_stream`` runs in a worker process
  (``peer_kokoro_onnx.py``) under the peers' venv.

Both get the same model file and the same voice as our server, and as many intra-op threads.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import harness

VENV = harness.BENCH_DIR / ".peers-venv"
PINS = {"fastkokoro": "0.7.0", "kokoro-onnx": "0.6.1"}


def python_of(venv_dir: Path) -> Path:
    return venv_dir / "bin" / "python"


def installed_versions(venv_dir: Path, names: Sequence[str] = (*PINS, "onnxruntime")) -> dict[str, str]:
    """Versions of the pinned packages (and onnxruntime), or of ``names``, in the venv (None for one
    that is absent); empty when the venv is missing."""
    python = python_of(venv_dir)
    if not python.exists():
        return {}
    code = ("import importlib.metadata as m, json\n"
            "def v(n):\n"
            "    try: return m.version(n)\n"
            "    except m.PackageNotFoundError: return None\n"
            f"print(json.dumps({{n: v(n) for n in {list(names)!r}}}))")
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else {}


def ensure_venv(venv_dir: Path = VENV) -> dict[str, str]:
    """Create the peers' venv and install the pinned peers on first use; their versions."""
    versions = installed_versions(venv_dir)
    if all(versions.get(name) == pin for name, pin in PINS.items()):
        return versions
    print(f"installing {', '.join(f'{n}=={v}' for n, v in PINS.items())} into {venv_dir} (once)...", flush=True)
    if not python_of(venv_dir).exists():
        venv.create(venv_dir, with_pip=True)
    subprocess.run([str(python_of(venv_dir)), "-m", "pip", "install", "--quiet",
                    *(f"{n}=={v}" for n, v in PINS.items())], check=True)
    return installed_versions(venv_dir)


def voices_npz(root: Path, voice: str = harness.VOICE) -> Path:
    """Our ``.pt`` voice pack as the ``.npz`` the peers load (name -> [510, 1, 256] float32)."""
    from kokoro_server.voices.torch_pickle import load_tensor_file

    target = root / "peers" / "voices.npz"
    target.parent.mkdir(parents=True, exist_ok=True)
    pack = np.asarray(load_tensor_file(root / "voices" / "v1_0" / f"{voice}.pt"), dtype=np.float32)
    np.savez(target, **{voice: pack})
    return target


def start_fastkokoro(root: Path, model: Path, voices: Path, threads: int, log: Path,
                     venv_dir: Path = VENV) -> harness.Server:
    """fastkokoro's server on a free loopback port; its start-up warm-up runs before /health answers."""
    port = harness.free_port()
    env = {"FASTKOKORO_MODEL_PATH": str(model), "FASTKOKORO_VOICES_PATH": str(voices),
           "FASTKOKORO_HOST": "127.0.0.1", "FASTKOKORO_PORT": str(port),
           "FASTKOKORO_CACHE_DIR": str(root / "peers" / "fastkokoro-cache"),
           "FASTKOKORO_ONNX_INTRA_OP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
    return harness.start_server("fastkokoro", [str(venv_dir / "bin" / "fastkokoro")], url=f"http://127.0.0.1:{port}",
                                ready_path="/health", env=env, log=log)


class KokoroOnnxLibrary:
    """kokoro-onnx's streaming API in a worker process, one request at a time."""

    def __init__(self, model: Path, voices: Path, threads: int, log: Path, venv_dir: Path = VENV) -> None:
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [str(python_of(venv_dir)), str(harness.BENCH_DIR / "peer_kokoro_onnx.py"), str(model), str(voices),
             str(threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True)
        ready = self._read()
        if not ready.get("ready"):
            raise SystemExit(f"kokoro-onnx worker failed (log {log})")

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.close()
            raise SystemExit(f"kokoro-onnx worker ended (exit {self.process.returncode}); see {self._log.name}")
        return json.loads(line)

    def measure(self, text: str) -> dict[str, float]:
        assert self.process.stdin is not None
        with harness.RssSampler(self.pid) as rss:
            self.process.stdin.write(json.dumps({"text": text, "voice": harness.VOICE}) + "\n")
            self.process.stdin.flush()
            result = self._read()
        return {**result, "rss_peak_mb": rss.peak, "rss_last_mb": rss.last}

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self._log.close()


if __name__ == "__main__":  # python bench/peers.py: just create the venv
    print(ensure_venv())
    sys.exit(0)
