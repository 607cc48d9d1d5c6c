"""Native kernels of the Kokoro vocoder (optional companion of kokoro-server).

``pip install ./native`` (needs a C++17 compiler; scikit-build-core and nanobind come from PyPI).
The kernels pick their code path at run time from the CPU's features: ``avx512vnni`` (int8 convs
with vpdpbusd, AVX-512 elementwise), ``avx2`` (AVX2 + FMA elementwise; int8 convs with vpmaddwd on int16
pairs) or ``portable``. :func:`isa` says which one runs; :func:`set_isa` lowers it (tests compare
the paths).

Kernels (time-major tensors are ``[T, C]``, channels contiguous):

* :func:`snake_rows`: ``x + sin(a x)^2 / a`` per row, one pass (onnxruntime runs five nodes);
* :func:`adain_snake_quantize`: instance norm, the style's gain and bias, snake, and uint8
  quantization exactly as ONNX ``DynamicQuantizeLinear`` does it, with the conv's padding rows;
* :class:`Conv`: an int8 "same" convolution with the exact integer arithmetic of the shipped
  model's ``ConvInteger`` chains (uint8 weights with a zero point, int32 bias ``floor(b / (sx sw))``,
  one scale), dequantized to float, with an optional residual added and, on request, the output's
  per-channel moments (the next instance norm's statistics, taken while the output is in cache);
* :func:`channel_moments`: per-channel sum and sum of squares (float64) of a time-major tensor.
"""

from __future__ import annotations

from kokoro_native._kernels import (Conv, active_isa, adain_snake_quantize, channel_moments, detected_isa, set_isa,
                                    snake_rows)

__version__ = "0.1.0"
ABI = 2  # bumped when a kernel's results change; recorded in derived-model manifests


def isa() -> str:
    """The code path the kernels run on this CPU: avx512vnni, avx2 or portable."""
    return active_isa()


__all__ = ["ABI", "Conv", "active_isa", "adain_snake_quantize", "channel_moments", "detected_isa", "isa", "set_isa",
           "snake_rows"]
