"""Where Kokoro-82M v0.19's files live on the Hugging Face hub, and what we know about them.

``hexgrad/Kokoro-82M`` at ``c97b7bb…`` (its last v0.19 tree, before v1.0 replaced it):
``kokoro-v0_19.pth``, ``kokoro-v0_19.onnx``, ``config.json``, ``voices/<name>.pt`` (11 voices). The
same files are kept in ``hexgrad/kLegacy`` under ``v0.19/``.
"""

from __future__ import annotations

from kokoro_server.builds.downloads import DownloadManifest, HubFile

REPO = "hexgrad/Kokoro-82M"
REVISION = "c97b7bbc3e60f447383c79b2f94fee861ff156ac"
PTH_SHA256 = "3b0c392f87508da38fad3a2f9d94c359f1b657ebd2ef79f9d56d69503e470b0a"
"""hexgrad's ``kokoro-v0_19.pth`` (also what the Kokoro authors' own demo code checked)."""

VOICE_SHA256 = {
    "af": "fad4192fd8a840f925b0e3fc2be54e20531f91a9ac816a485b7992ca0bd83ebf",
    "af_bella": "2828c6c2f94275ef3441a2edfcf48293298ee0f9b56ce70fb2e344345487b922",
    "af_nicole": "9401802fb0b7080c324dec1a75d60f31d977ced600a99160e095dbc5a1172692",
    "af_sarah": "ba7918c4ace6ace4221e7e01eb3a6d16596cba9729850551c758cd2ad3a4cd08",
    "af_sky": "9f16f1bb778de36a177ae4b0b6f1e59783d5f4d3bcecf752c3e1ee98299b335e",
    "am_adam": "1921528b400a553f66528c27899d95780918fe33b1ac7e2a871f6a0de475f176",
    "am_michael": "a255c9562c363103adc56c09b7daf837139d3bdaa8bd4dd74847ab1e3e8c28be",
    "bf_emma": "992e6d8491b8926ef4a16205250e51a21d9924405a5d37e2db6e94adfd965c3b",
    "bf_isabella": "d0865a03931230100167f7a81d394b143c072efe2d7e4c4a87b5c54d6283f580",
    "bm_george": "7d763dfe13e934357f4d8322b718787d79e32f2181e29ca0cf6aa637d8092b96",
    "bm_lewis": "f70d9ea4d65f522f224628f06d86ea74279faae23bd7e765848a374aba916b76",
}

DOWNLOADS = DownloadManifest(
    repo=REPO,
    revision=REVISION,
    voice_sha256=VOICE_SHA256,
    weights={
        "pth": HubFile(REPO, REVISION, "kokoro-v0_19.pth", "models", "kokoro-v0_19.pth", sha256=PTH_SHA256),
        "onnx": HubFile(REPO, REVISION, "kokoro-v0_19.onnx", "models", "kokoro-v0_19.onnx"),
    },
    default_weights="onnx",
    notes={"onnx-int8": "no int8 export of v0.19 is published; use --weights onnx or pth"},
)
