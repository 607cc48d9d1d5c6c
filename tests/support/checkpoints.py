"""Model files made for tests: a seeded random-weight v0.19 checkpoint in v0.19's own format."""

from __future__ import annotations

from pathlib import Path

SAMPLES_PER_FRAME = 600  # 24 kHz audio per predicted duration frame: 2 (decoder) x 10 x 6 (upsampling) x 5 (iSTFT hop)


def samples_per_frame(config: dict) -> int:
    """Audio samples per duration frame, from a KModel config's decoder settings."""
    decoder = config["istftnet"]
    rate = 1
    for factor in decoder["upsample_rates"]:
        rate *= factor
    # The decoder's last AdaIN block upsamples the frame-rate features by 2 before the generator.
    return 2 * rate * decoder["gen_istft_hop_size"]


def write_v019_checkpoint(path: Path, seed: int = 0) -> Path:
    """Build the v0.19 architecture with seeded random weights and save it as v0.19 did:
    ``{"net": {component: {"module." + key: tensor}}}`` (the weights of a DataParallel model)."""
    import torch

    from kokoro_server.builds import get_build
    from kokoro_server.engine.torch_kmodel import COMPONENTS, build_kmodel

    torch.manual_seed(seed)
    model = build_kmodel(get_build("v0_19"))
    net = {component: {f"module.{key}": value for key, value in getattr(model, component).state_dict().items()}
           for component in COMPONENTS}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"net": net}, path)
    return path
