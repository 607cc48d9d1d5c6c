// Kernels of the Kokoro vocoder (iSTFTNet generator), float32 and int8, with runtime CPU dispatch.
//
// Layouts: "time-major" tensors are [T][C] (channels contiguous), the layout the int8 convolution
// wants (four channels of one time step form one 32-bit lane of AVX-512 VNNI's vpdpbusd).
#pragma once

#include <cstddef>
#include <cstdint>

namespace kokoro {

enum class Isa { portable = 0, avx2 = 1, avx512vnni = 2 };

Isa detected_isa();          // what this CPU can run
Isa active_isa();            // what the kernels use (detected, or lowered by set_isa)
void set_isa(Isa isa);       // lower the ISA (tests and benchmarks compare paths); clamps to detected
const char* isa_name(Isa isa);

// y = x + sin(a x)^2 / a, with a and 1/a per row of a [rows][n] tensor (channel-major).
void snake_rows(const float* x, float* y, const float* alpha, const float* inv_alpha, size_t rows, size_t n);

// Instance norm over time of a time-major x [T][C] (mean and variance from the per-channel
// moments, given or computed, + eps, sqrt), the style's affine (gain = 1 + gamma, beta), then snake; the result is
// quantized like ONNX DynamicQuantizeLinear (uint8, asymmetric, per tensor) into q
// [pad_left + T + pad_right][C] with the pad rows at the zero point; rowsum[t] = sum_c q[t][c].
// scratch: [T][C] floats. Writes *scale and *zero.
void adain_snake_quantize(const float* x, size_t T, size_t C, const float* gain, const float* beta,
                          const float* alpha, const float* inv_alpha, float eps, size_t pad_left,
                          size_t pad_right, float* scratch, uint8_t* q, int32_t* rowsum, float* scale,
                          uint8_t* zero, int threads = 1, const double* sum = nullptr,
                          const double* sumsq = nullptr);

// Per-channel sum and sum of squares of a time-major x [T][C] (the moments the instance norm needs).
void channel_moments(const float* x, size_t T, size_t C, double* sum, double* sumsq, int threads);

// Weights of one conv, packed for the active ISA (from uint8 [O][C][K] with a zero point).
struct PackedConv {
  size_t O = 0, C = 0, K = 0;
  int w_zero = 0;           // the uint8 weights' zero point
  float w_scale = 0.f;      // per tensor
  int8_t* packed = nullptr; // w - 128, in the kernel's order
  int32_t* wsum = nullptr;  // per output: sum over c, k of (w - 128)
  float* bias = nullptr;    // float bias [O] (the graph quantizes it per call, as floor(b / (sx sw)))
  Isa isa = Isa::portable;
};

PackedConv* pack_conv(const uint8_t* w, size_t O, size_t C, size_t K, int w_zero, float w_scale,
                      const float* bias);
void free_conv(PackedConv* conv);

// y [T][O] = dequantized int8 conv of q (as written by adain_snake_quantize, T_in = T + (K-1) d
// rows) with the exact integer arithmetic of ConvInteger + int32 bias + scale, plus residual
// [T][O] if given. threads: worker threads. sum / sumsq [O]: if given, the output's per-channel
// moments (for the instance norm that reads it next), taken while each chunk is in cache.
void conv_u8(const PackedConv& conv, const uint8_t* q, const int32_t* rowsum, size_t T, size_t dilation,
             uint8_t x_zero, float x_scale, const float* residual, float* y, int threads,
             double* sum = nullptr, double* sumsq = nullptr);

}  // namespace kokoro
