"""Worker for the benchmark: kokoro-onnx (the library) streaming, run by the peers' venv's Python.

    bench/.peers-venv/bin/python bench/peer_kokoro_onnx.py MODEL VOICES_NPZ THREADS

Reads one JSON request per line on stdin (``{"text": ..., "voice": ...}``) and answers each with one
JSON line: the time from the call to the first audio chunk ``create_stream`` yields (``ttfa_s``), to
the last (``total_s``), and the audio length. Prints ``{"ready": true}`` once the model is loaded
and warmed up. Imports nothing from kokoro_server (it runs in another venv).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def measure(kokoro, text: str, voice: str) -> dict[str, float]:
    start = time.perf_counter()
    first = None
    samples = 0
    rate = 24_000
    async for audio, rate in kokoro.create_stream(text, voice=voice, speed=1.0, lang="en-us"):
        if first is None:
            first = time.perf_counter() - start
        samples += len(audio)
    total = time.perf_counter() - start
    audio_s = samples / rate
    return {"ttfa_s": first if first is not None else total, "total_s": total, "audio_s": audio_s,
            "rtf": total / audio_s if audio_s else float("nan")}


def main() -> int:
    import onnxruntime as ort
    from kokoro_onnx import Kokoro

    model, voices, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    kokoro = Kokoro.from_session(session, voices)
    asyncio.run(measure(kokoro, "Warming up.", "af_heart"))
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        print(json.dumps(asyncio.run(measure(kokoro, request["text"], request["voice"]))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
