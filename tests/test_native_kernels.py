"""The native vocoder kernels (``native/``, package ``kokoro_native``) against numpy references, on
every code path this CPU can run (avx512vnni, avx2, portable). Skipped where the package is not
installed, a failure in CI (``.ci/run`` builds it)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.ci import missing

PATHS = ("avx512vnni", "avx2", "portable")


@pytest.fixture
def kn():
    """The kernels, on the CPU's own path before and after each test (tests lower it with set_isa)."""
    try:
        import kokoro_native
    except ImportError:
        missing("kokoro_native is not installed (pip install ./native)")
    kokoro_native.set_isa(kokoro_native.detected_isa())
    yield kokoro_native
    kokoro_native.set_isa(kokoro_native.detected_isa())


def runnable(kn) -> list[str]:
    order = list(PATHS)
    return order[order.index(kn.detected_isa()):]


def dynamic_quantize(v: np.ndarray) -> tuple[np.ndarray, np.float32, int]:
    """ONNX DynamicQuantizeLinear, written from its specification."""
    low, high = min(float(v.min()), 0.0), max(float(v.max()), 0.0)
    scale = np.float32((np.float32(high) - np.float32(low)) / np.float32(255))
    zero = int(np.rint(np.clip(np.float32(0) - np.float32(low) / scale, 0, 255)))
    q = np.clip(np.rint(v / scale) + zero, 0, 255).astype(np.uint8)
    return q, scale, zero


def test_snake_matches_numpy_on_every_path(kn) -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((37, 1001)) * 4).astype(np.float32)  # odd sizes: vector tails
    x[0, :5] = [0.0, -0.0, 1e-30, 300.0, -300.0]
    alpha = rng.uniform(0.05, 3.0, 37).astype(np.float32)
    expected = x.astype(np.float64) + np.sin(alpha[:, None].astype(np.float64) * x) ** 2 / alpha[:, None]
    for path in runnable(kn):
        kn.set_isa(path)
        y = kn.snake_rows(x, alpha)
        assert y.shape == x.shape and y.dtype == np.float32
        error = np.abs(y - expected) / np.maximum(1.0, np.abs(expected))
        assert error.max() < 2e-6, (path, float(error.max()))


def test_adain_snake_quantize_is_dynamic_quantize_linear_of_the_float_result(kn) -> None:
    rng = np.random.default_rng(2)
    T, C, pad = 700, 64, 5
    x = (rng.standard_normal((T, C)) * rng.uniform(0.1, 5, C) + rng.standard_normal(C)).astype(np.float32)
    gain = rng.uniform(0.5, 1.5, C).astype(np.float32)
    beta = (rng.standard_normal(C) * 0.2).astype(np.float32)
    alpha = rng.uniform(0.1, 2.0, C).astype(np.float32)
    inv = (np.float32(1) / alpha).astype(np.float32)
    mean = x.mean(axis=0, dtype=np.float64)
    norm = (x - mean) / np.sqrt(((x - mean) ** 2).mean(axis=0) + 1e-5)
    h = gain * norm + beta
    h = h + inv * np.sin(alpha * h) ** 2
    q_ref, scale_ref, zero_ref = dynamic_quantize(h.astype(np.float32))
    for path in runnable(kn):
        kn.set_isa(path)
        q, rowsum, scale, zero = kn.adain_snake_quantize(x, gain, beta, alpha, inv, 1e-5, pad, pad + 1)
        q2, _, scale2, zero2 = kn.adain_snake_quantize(x, gain, beta, alpha, inv, 1e-5, pad, pad + 1, threads=2)
        assert zero2 == zero and abs(scale2 - scale) <= 1e-6 * scale and np.abs(q2.astype(int) - q).max() <= 1
        assert q.shape == (T + 2 * pad + 1, C) and q.dtype == np.uint8
        assert abs(scale - scale_ref) <= 1e-6 * scale_ref and zero == zero_ref, path
        assert (q[:pad] == zero).all() and (q[pad + T:] == zero).all()  # pad rows at the zero point
        steps = np.abs(q[pad:pad + T].astype(int) - q_ref)
        assert steps.max() <= 1 and np.mean(steps) < 1e-3, path  # ulp-level float differences only
        assert (rowsum == q.astype(np.int64).sum(axis=1)).all()
        moments = kn.channel_moments(x, threads=2)  # what a conv hands over: the same quantization
        assert np.allclose(moments[0], x.sum(axis=0, dtype=np.float64)) and np.allclose(
            moments[1], (x.astype(np.float64) ** 2).sum(axis=0))
        q3, _, scale3, zero3 = kn.adain_snake_quantize(x, gain, beta, alpha, inv, 1e-5, pad, pad + 1, stats=moments)
        assert zero3 == zero and abs(scale3 - scale) <= 1e-6 * scale and np.abs(q3.astype(int) - q).max() <= 1


@pytest.mark.parametrize("channels,kernel,dilation,frames", [(128, 3, 1, 50), (64, 11, 5, 131), (256, 7, 3, 24),
                                                              (32, 1, 1, 13), (8, 3, 1, 9)])
def test_conv_is_exactly_the_int8_exports_integer_arithmetic(kn, channels: int, kernel: int, dilation: int,
                                                             frames: int) -> None:
    rng = np.random.default_rng(channels + kernel)
    pad = (kernel - 1) * dilation // 2
    w = rng.integers(0, 256, (channels, channels, kernel)).astype(np.uint8)
    w_zero, w_scale = 131, np.float32(0.0037)
    bias = (rng.standard_normal(channels) * 0.3).astype(np.float32)
    x_zero, x_scale = 97, np.float32(0.021)
    q = rng.integers(0, 256, (frames + 2 * pad, channels)).astype(np.uint8)
    q[:pad] = q[frames + pad:] = x_zero
    rowsum = q.astype(np.int32).sum(axis=1).astype(np.int32)
    residual = rng.standard_normal((frames, channels)).astype(np.float32)
    acc = np.zeros((frames, channels), np.int64)
    for k in range(kernel):  # sum over c, k of (x - zx)(w - zw): ConvInteger
        acc += (q[k * dilation:k * dilation + frames].astype(np.int64) - x_zero) @ (w[:, :, k].astype(np.int64) - w_zero).T
    bias_scale = np.float32(x_scale * w_scale)
    expected = (acc + np.floor(bias / bias_scale).astype(np.int64)).astype(np.float32) * bias_scale
    for path in runnable(kn):
        kn.set_isa(path)
        conv = kn.Conv(w, w_zero, float(w_scale), bias, dilation, pad)
        for threads in (1, 2):
            y = conv(q, rowsum, x_zero, float(x_scale), None, threads)
            assert y.shape == (frames, channels) and np.array_equal(y, expected), (path, conv.isa, threads)
        y, (total, squares) = conv(q, rowsum, x_zero, float(x_scale), residual, 2, stats=True)
        assert np.array_equal(y, expected + residual)
        moments = (y.astype(np.float64).sum(axis=0), (y.astype(np.float64) ** 2).sum(axis=0))
        assert np.allclose(total, moments[0], rtol=1e-12, atol=1e-9) and np.allclose(squares, moments[1], rtol=1e-12)


def test_bad_shapes_are_errors_not_crashes(kn) -> None:
    w = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="same"):
        kn.Conv(w, 128, 0.1, np.zeros(32, np.float32), 1, 2)
    conv = kn.Conv(w, 128, 0.1, np.zeros(32, np.float32), 1, 1)
    with pytest.raises(ValueError):
        conv(np.zeros((10, 16), np.uint8), np.zeros(10, np.int32), 0, 1.0)
    with pytest.raises(ValueError):
        kn.snake_rows(np.zeros((4, 8), np.float32), np.ones(3, np.float32))
    with pytest.raises(ValueError, match="isa"):
        kn.set_isa("sse9")


def test_models_command_says_which_path_runs(kn, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from kokoro_server.engine.derived.recipes.native_generator import status_line

    line = status_line()
    if kn.detected_isa() == "portable":
        assert line.startswith("not used:") and "no fast path" in line
    else:
        assert kn.isa() in line and "onnxruntime is the fallback" in line
    monkeypatch.setitem(sys.modules, "kokoro_native", None)  # as on a machine where it could not be built
    assert status_line() == "not used: the native kernels are not installed (pip install ./native)"
