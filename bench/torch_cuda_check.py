"""GPU check for the PyTorch backend: synthesize on CUDA (float32, then float16 autocast) and on CPU,
and compare. Run where a GPU is lent, from the repository root:

    python bench/torch_cuda_check.py --weights ../shared/assets/models/v1_0/kokoro-v1_0-dequant-fp16.pth

Prints one JSON line per device setting: load and synthesis seconds, audio length, predicted
durations equal to CPU's or not, and the correlation of the audio with CPU's. The decoder adds random
noise to its harmonic source, so audio is never bit-identical between runs; durations are.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from kokoro_server.builds import get_build
from kokoro_server.engine.torch_kmodel import TorchBackend
from kokoro_server.voices.torch_pickle import load_tensor_file

TEXT = "The quick brown fox jumps over the lazy dog. Kokoro runs on the graphics card now."


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", type=Path, required=True, help="a v1.0 .pth in KModel's format")
    parser.add_argument("--voice", type=Path, default=Path("../shared/assets/voices/v1_0/af_heart.pt"))
    args = parser.parse_args()
    import torch

    build = get_build("v1_0")
    tokens = build.tokenize(build.make_phonemizer("a")(TEXT))
    style = load_tensor_file(args.voice)[build.style_row(len(tokens))]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kokoro-v1_0.pth"
        path.symlink_to(args.weights.resolve())
        runs = [("cpu", False)] + ([("cuda", False), ("cuda", True)] if torch.cuda.is_available() else [])
        reference = None
        for device, half in runs:
            start = time.perf_counter()
            backend = TorchBackend(build, path, device=device, half=half)
            loaded = time.perf_counter() - start
            backend.synthesize(tokens, style, 1.0)  # warm-up
            start = time.perf_counter()
            out = backend.synthesize(tokens, style, 1.0)
            seconds = time.perf_counter() - start
            reference = reference or out
            n = min(out.audio.size, reference.audio.size)
            print(json.dumps({
                "device": device, "half": half, "backend": backend.description, "load_s": round(loaded, 2),
                "synth_s": round(seconds, 3), "audio_s": round(out.audio.size / 24_000, 2),
                "durations_equal_cpu": bool(np.array_equal(out.durations, reference.durations)),
                "audio_corr_cpu": round(float(np.corrcoef(out.audio[:n], reference.audio[:n])[0, 1]), 4),
                "finite": bool(np.isfinite(out.audio).all()),
            }), flush=True)
            backend.close()


if __name__ == "__main__":
    main()
