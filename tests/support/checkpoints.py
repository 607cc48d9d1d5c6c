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


def export_v019_onnx(checkpoint: Path, target: Path) -> Path:
    """Export a v0.19 checkpoint to ONNX with the inputs Kokoro's ONNX models have
    (``tokens`` int64 ``[1, n+2]``, ``style`` float32 ``[1, 256]``, ``speed`` float32 ``[1]``) and
    outputs ``audio`` and ``durations``, via kokoro's ``KModelForONNX`` (real-valued STFT)."""
    import warnings

    import torch
    from kokoro.model import KModelForONNX

    from kokoro_server.builds import get_build
    from kokoro_server.engine.torch_kmodel import COMPONENTS, build_kmodel, fill_model, read_state

    build = get_build("v0_19")
    reference = build_kmodel(build)
    fill_model(reference, read_state(build, checkpoint), build, checkpoint)
    model = build_kmodel(build, disable_complex=True)  # its STFT keeps fixed kernels as buffers
    for component in COMPONENTS:
        result = getattr(model, component).load_state_dict(getattr(reference, component).state_dict(),
                                                            strict=False)
        assert not result.unexpected_keys and all(".stft." in k for k in result.missing_keys), result
    with warnings.catch_warnings():  # the exporter's many tracer warnings
        warnings.simplefilter("ignore")
        tokens = torch.tensor([[0, *range(50, 58), 0]], dtype=torch.long)
        style = torch.zeros(1, 256)
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.onnx.export(KModelForONNX(model.eval()), (tokens, style, torch.tensor([1.0])), str(target),
                          input_names=["tokens", "style", "speed"], output_names=["audio", "durations"],
                          dynamic_axes={"tokens": {1: "n"}, "audio": {0: "samples"}, "durations": {0: "n"}},
                          opset_version=17, dynamo=False)
    return target
