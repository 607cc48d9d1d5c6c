// Kernels of the Kokoro vocoder: see kernels.h. Each hot loop exists in a portable form and in
// AVX2 / AVX-512 forms compiled with GCC/Clang target attributes; which one runs is decided at
// run time from the CPU's features (cpuid via __builtin_cpu_supports).
#include "kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#define AVX512 "avx512f,avx512bw,avx512vl,avx512dq,fma"

namespace kokoro {

// ---------------------------------------------------------------------------------------------
// CPU dispatch

static Isa detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vnni"))
    return Isa::avx512vnni;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::portable;
}

static std::atomic<int> g_isa{-1};

Isa detected_isa() {
  static const Isa isa = detect();
  return isa;
}

Isa active_isa() {
  int v = g_isa.load();
  return v < 0 ? detected_isa() : static_cast<Isa>(v);
}

void set_isa(Isa isa) {
  g_isa.store(static_cast<int>(std::min(isa, detected_isa())));
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512vnni: return "avx512vnni";
    case Isa::avx2: return "avx2";
    default: return "portable";
  }
}

// ---------------------------------------------------------------------------------------------
// sin(x)^2: Cody-Waite reduction by pi/2 and the Cephes single-precision polynomials. The sign of
// sin does not matter for its square, so only the quadrant's parity is used.

static constexpr float kTwoOverPi = 0.636619772367581343f;
static constexpr float kPio2A = 1.5703125f, kPio2B = 4.837512969970703125e-4f, kPio2C = 7.54978995489188216e-8f;
static constexpr float kS1 = -1.6666654611e-1f, kS2 = 8.3321608736e-3f, kS3 = -1.9515295891e-4f;
static constexpr float kC1 = 4.166664568298827e-2f, kC2 = -1.388731625493765e-3f, kC3 = 2.443315711809948e-5f;

static inline float sin2_scalar(float x) {
  float s = std::sin(x);
  return s * s;
}

__attribute__((target("avx2,fma"))) static inline __m256 sin2_avx2(__m256 x) {
  __m256 j = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kTwoOverPi)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(j, _mm256_set1_ps(kPio2A), x);
  r = _mm256_fnmadd_ps(j, _mm256_set1_ps(kPio2B), r);
  r = _mm256_fnmadd_ps(j, _mm256_set1_ps(kPio2C), r);
  __m256 z = _mm256_mul_ps(r, r);
  __m256 s = _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(kS3), z, _mm256_set1_ps(kS2)), z,
                                             _mm256_set1_ps(kS1)), _mm256_mul_ps(z, r), r);
  __m256 c = _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(kC3), z, _mm256_set1_ps(kC2)), z,
                                             _mm256_set1_ps(kC1)), _mm256_mul_ps(z, z),
                             _mm256_fnmadd_ps(_mm256_set1_ps(0.5f), z, _mm256_set1_ps(1.0f)));
  __m256i odd = _mm256_and_si256(_mm256_cvtps_epi32(j), _mm256_set1_epi32(1));
  __m256 use_cos = _mm256_castsi256_ps(_mm256_cmpeq_epi32(odd, _mm256_set1_epi32(1)));
  __m256 v = _mm256_blendv_ps(s, c, use_cos);
  return _mm256_mul_ps(v, v);
}

__attribute__((target(AVX512))) static inline __m512 sin2_avx512(__m512 x) {
  __m512 j = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kTwoOverPi)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(j, _mm512_set1_ps(kPio2A), x);
  r = _mm512_fnmadd_ps(j, _mm512_set1_ps(kPio2B), r);
  r = _mm512_fnmadd_ps(j, _mm512_set1_ps(kPio2C), r);
  __m512 z = _mm512_mul_ps(r, r);
  __m512 s = _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(kS3), z, _mm512_set1_ps(kS2)), z,
                                             _mm512_set1_ps(kS1)), _mm512_mul_ps(z, r), r);
  __m512 c = _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(kC3), z, _mm512_set1_ps(kC2)), z,
                                             _mm512_set1_ps(kC1)), _mm512_mul_ps(z, z),
                             _mm512_fnmadd_ps(_mm512_set1_ps(0.5f), z, _mm512_set1_ps(1.0f)));
  __mmask16 odd = _mm512_test_epi32_mask(_mm512_cvtps_epi32(j), _mm512_set1_epi32(1));
  __m512 v = _mm512_mask_blend_ps(odd, s, c);
  return _mm512_mul_ps(v, v);
}

// ---------------------------------------------------------------------------------------------
// snake over rows: y = x + sin(a x)^2 * (1 / a)

static void snake_rows_portable(const float* x, float* y, const float* a, const float* ia, size_t rows, size_t n) {
  for (size_t r = 0; r < rows; ++r)
    for (size_t i = 0; i < n; ++i) y[r * n + i] = x[r * n + i] + ia[r] * sin2_scalar(a[r] * x[r * n + i]);
}

__attribute__((target("avx2,fma"))) static void snake_rows_avx2(const float* x, float* y, const float* a,
                                                                const float* ia, size_t rows, size_t n) {
  for (size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    __m256 va = _mm256_set1_ps(a[r]), via = _mm256_set1_ps(ia[r]);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      __m256 v = _mm256_loadu_ps(xr + i);
      _mm256_storeu_ps(yr + i, _mm256_add_ps(v, _mm256_mul_ps(via, sin2_avx2(_mm256_mul_ps(va, v)))));
    }
    for (; i < n; ++i) yr[i] = xr[i] + ia[r] * sin2_scalar(a[r] * xr[i]);
  }
}

__attribute__((target(AVX512))) static void snake_rows_avx512(
    const float* x, float* y, const float* a, const float* ia, size_t rows, size_t n) {
  for (size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    __m512 va = _mm512_set1_ps(a[r]), via = _mm512_set1_ps(ia[r]);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      __m512 v = _mm512_loadu_ps(xr + i);
      _mm512_storeu_ps(yr + i, _mm512_add_ps(v, _mm512_mul_ps(via, sin2_avx512(_mm512_mul_ps(va, v)))));
    }
    if (i < n) {
      __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
      __m512 v = _mm512_maskz_loadu_ps(m, xr + i);
      _mm512_mask_storeu_ps(yr + i, m, _mm512_add_ps(v, _mm512_mul_ps(via, sin2_avx512(_mm512_mul_ps(va, v)))));
    }
  }
}

void snake_rows(const float* x, float* y, const float* alpha, const float* inv_alpha, size_t rows, size_t n) {
  switch (active_isa()) {
    case Isa::avx512vnni: return snake_rows_avx512(x, y, alpha, inv_alpha, rows, n);
    case Isa::avx2: return snake_rows_avx2(x, y, alpha, inv_alpha, rows, n);
    default: return snake_rows_portable(x, y, alpha, inv_alpha, rows, n);
  }
}

// Splits [0, n) into at most `threads` contiguous ranges (multiples of `step`), runs
// body(worker, begin, end) on each, the first on the calling thread; returns the workers used.
template <typename Body>
static int parallel_ranges(size_t n, size_t step, int threads, Body body) {
  size_t tiles = (n + step - 1) / step;
  int workers = std::max(1, std::min<int>(threads, static_cast<int>(tiles)));
  if (workers == 1) {
    body(0, size_t{0}, n);
    return 1;
  }
  std::vector<std::thread> pool;
  size_t per = (tiles + workers - 1) / workers * step;
  for (int w = 1; w < workers; ++w) {
    size_t a = std::min(n, per * w), b = std::min(n, per * (w + 1));
    pool.emplace_back([=] { if (a < b) body(w, a, b); });
  }
  body(0, 0, std::min(n, per));
  for (auto& th : pool) th.join();
  return workers;
}

// ---------------------------------------------------------------------------------------------
// AdaIN + snake + dynamic uint8 quantization, time-major

struct QuantParams {
  float scale;
  uint8_t zero;
};

// onnxruntime's DynamicQuantizeLinear parameters (range widened to include 0, round half to even).
static QuantParams quant_params(float lo, float hi) {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  float scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
  float zero = 0.0f - lo / scale;
  zero = std::max(0.0f, std::min(255.0f, zero));
  return {scale, static_cast<uint8_t>(std::nearbyint(zero))};
}

static inline uint8_t quantize_scalar(float v, float scale, int zero) {
  float q = std::nearbyint(v / scale) + static_cast<float>(zero);
  return static_cast<uint8_t>(std::max(0.0f, std::min(255.0f, q)));
}

// Per-channel sum and sum of squares over rows [t0, t1) of a time-major x, added to sum[C] and
// sq[C] (double accumulators).
static void channel_moments_portable(const float* x, size_t t0, size_t t1, size_t C, double* sum, double* sq) {
  for (size_t t = t0; t < t1; ++t)
    for (size_t c = 0; c < C; ++c) {
      double v = x[t * C + c];
      sum[c] += v;
      sq[c] += v * v;
    }
}

__attribute__((target(AVX512))) static void channel_moments_avx512(const float* x, size_t t0, size_t t1, size_t C,
                                                                    double* sum, double* sq) {
  for (size_t c0 = 0; c0 < C; c0 += 16) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd(), q0 = _mm512_setzero_pd(), q1 = _mm512_setzero_pd();
    for (size_t t = t0; t < t1; ++t) {
      __m512 v = _mm512_loadu_ps(x + t * C + c0);
      __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v)), hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
      s0 = _mm512_add_pd(s0, lo);
      s1 = _mm512_add_pd(s1, hi);
      q0 = _mm512_fmadd_pd(lo, lo, q0);
      q1 = _mm512_fmadd_pd(hi, hi, q1);
    }
    _mm512_storeu_pd(sum + c0, _mm512_add_pd(_mm512_loadu_pd(sum + c0), s0));
    _mm512_storeu_pd(sum + c0 + 8, _mm512_add_pd(_mm512_loadu_pd(sum + c0 + 8), s1));
    _mm512_storeu_pd(sq + c0, _mm512_add_pd(_mm512_loadu_pd(sq + c0), q0));
    _mm512_storeu_pd(sq + c0 + 8, _mm512_add_pd(_mm512_loadu_pd(sq + c0 + 8), q1));
  }
}

static void channel_moments_rows(const float* x, size_t t0, size_t t1, size_t C, double* sum, double* sq) {
  if (active_isa() == Isa::avx512vnni && C % 16 == 0)
    channel_moments_avx512(x, t0, t1, C, sum, sq);
  else
    channel_moments_portable(x, t0, t1, C, sum, sq);
}

// y = snake(gain (x - mean) rstd + beta) for rows [t0, t1) (rstd = 1 / sqrt(var + eps)); the rows' min and max.
static void adain_snake_rows(const float* x, size_t t0, size_t t1, size_t C, const float* mean, const float* denom,
                             const float* gain, const float* beta, const float* a, const float* ia, float* out,
                             float* lo, float* hi) {
  for (size_t t = t0; t < t1; ++t)
    for (size_t c = 0; c < C; ++c) {
      float v = (x[t * C + c] - mean[c]) * denom[c];
      v = gain[c] * v + beta[c];
      v = v + ia[c] * sin2_scalar(a[c] * v);
      out[t * C + c] = v;
      *lo = std::min(*lo, v);
      *hi = std::max(*hi, v);
    }
}

__attribute__((target(AVX512))) static void adain_snake_rows_avx512(
    const float* x, size_t t0, size_t t1, size_t C, const float* mean, const float* denom, const float* gain,
    const float* beta, const float* a, const float* ia, float* out, float* lo, float* hi) {
  __m512 vlo = _mm512_set1_ps(*lo), vhi = _mm512_set1_ps(*hi);
  for (size_t t = t0; t < t1; ++t) {
    for (size_t c = 0; c < C; c += 16) {
      __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + t * C + c), _mm512_loadu_ps(mean + c)),
                               _mm512_loadu_ps(denom + c));
      v = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(gain + c), v), _mm512_loadu_ps(beta + c));
      v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_loadu_ps(ia + c), sin2_avx512(_mm512_mul_ps(_mm512_loadu_ps(a + c), v))));
      vlo = _mm512_min_ps(vlo, v);
      vhi = _mm512_max_ps(vhi, v);
      _mm512_storeu_ps(out + t * C + c, v);
    }
  }
  *lo = _mm512_reduce_min_ps(vlo);
  *hi = _mm512_reduce_max_ps(vhi);
}

static void quantize_rows(const float* v, size_t t0, size_t t1, size_t C, float scale, uint8_t zero, uint8_t* q,
                          int32_t* rowsum) {
  for (size_t t = t0; t < t1; ++t) {
    int32_t s = 0;
    for (size_t c = 0; c < C; ++c) {
      uint8_t b = quantize_scalar(v[t * C + c], scale, zero);
      q[t * C + c] = b;
      s += b;
    }
    rowsum[t] = s;
  }
}

__attribute__((target(AVX512))) static void quantize_rows_avx512(const float* v, size_t t0, size_t t1, size_t C,
                                                                  float scale, uint8_t zero, uint8_t* q, int32_t* rowsum) {
  __m512 vs = _mm512_set1_ps(scale);
  __m512 lo = _mm512_set1_ps(0.0f - zero), hi = _mm512_set1_ps(255.0f - zero);
  __m512i vz = _mm512_set1_epi32(zero);
  for (size_t t = t0; t < t1; ++t) {
    __m512i sum = _mm512_setzero_si512();
    for (size_t c = 0; c < C; c += 16) {
      __m512 f = _mm512_roundscale_ps(_mm512_div_ps(_mm512_loadu_ps(v + t * C + c), vs),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      f = _mm512_min_ps(_mm512_max_ps(f, lo), hi);
      __m512i i = _mm512_add_epi32(_mm512_cvtps_epi32(f), vz);
      sum = _mm512_add_epi32(sum, i);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + t * C + c), _mm512_cvtepi32_epi8(i));
    }
    rowsum[t] = _mm512_reduce_add_epi32(sum);
  }
}

void channel_moments(const float* x, size_t T, size_t C, double* sum, double* sq, int threads) {
  const int workers = std::max(1, threads);
  std::vector<double> acc(static_cast<size_t>(workers) * 2 * C, 0.0);
  int used = parallel_ranges(T, 64, workers, [&](int w, size_t a, size_t b) {
    double* mine = acc.data() + static_cast<size_t>(w) * 2 * C;
    channel_moments_rows(x, a, b, C, mine, mine + C);
  });
  std::fill(sum, sum + C, 0.0);
  std::fill(sq, sq + C, 0.0);
  for (int w = 0; w < used; ++w)
    for (size_t c = 0; c < C; ++c) {
      sum[c] += acc[static_cast<size_t>(w) * 2 * C + c];
      sq[c] += acc[static_cast<size_t>(w) * 2 * C + C + c];
    }
}

void adain_snake_quantize(const float* x, size_t T, size_t C, const float* gain, const float* beta,
                          const float* alpha, const float* inv_alpha, float eps, size_t pad_left,
                          size_t pad_right, float* scratch, uint8_t* q, int32_t* rowsum, float* scale,
                          uint8_t* zero, int threads, const double* sum, const double* sumsq) {
  const bool wide = active_isa() == Isa::avx512vnni && C % 16 == 0;
  const int workers = std::max(1, threads);
  constexpr size_t kRows = 64;
  std::vector<double> own_sum, own_sq;
  if (!sum || !sumsq) {
    own_sum.resize(C);
    own_sq.resize(C);
    channel_moments(x, T, C, own_sum.data(), own_sq.data(), workers);
    sum = own_sum.data();
    sumsq = own_sq.data();
  }
  // mean, and 1 / sqrt(variance + eps) with the variance from the moments in double
  std::vector<float> mean(C), denom(C), lows(workers, INFINITY), highs(workers, -INFINITY);
  for (size_t c = 0; c < C; ++c) {
    double m = sum[c] / static_cast<double>(T);
    double var = std::max(0.0, sumsq[c] / static_cast<double>(T) - m * m);
    mean[c] = static_cast<float>(m);
    denom[c] = 1.0f / std::sqrt(static_cast<float>(var) + eps);
  }
  int used = parallel_ranges(T, kRows, workers, [&](int w, size_t a, size_t b) {
    (wide ? adain_snake_rows_avx512 : adain_snake_rows)(x, a, b, C, mean.data(), denom.data(), gain, beta, alpha,
                                                         inv_alpha, scratch, &lows[w], &highs[w]);
  });
  float lo = *std::min_element(lows.begin(), lows.begin() + used);
  float hi = *std::max_element(highs.begin(), highs.begin() + used);
  QuantParams p = quant_params(lo, hi);
  *scale = p.scale;
  *zero = p.zero;
  std::memset(q, p.zero, pad_left * C);
  std::memset(q + (pad_left + T) * C, p.zero, pad_right * C);
  for (size_t t = 0; t < pad_left; ++t) rowsum[t] = static_cast<int32_t>(C) * p.zero;
  for (size_t t = 0; t < pad_right; ++t) rowsum[pad_left + T + t] = static_cast<int32_t>(C) * p.zero;
  uint8_t* qb = q + pad_left * C;
  int32_t* rb = rowsum + pad_left;
  parallel_ranges(T, kRows, workers, [&](int, size_t a, size_t b) {
    (wide ? quantize_rows_avx512 : quantize_rows)(scratch, a, b, C, p.scale, p.zero, qb, rb);
  });
}

// ---------------------------------------------------------------------------------------------
// int8 convolution

// VNNI packing: blocks of 32 outputs (two registers of 16), per tap, per group of 4 channels:
// [ob][k][cg][h in 0..1][16 outputs][4 channels], w - 128 as int8.
static size_t packed_index(size_t o, size_t c, size_t k, size_t K, size_t C) {
  size_t ob = o / 32, h = (o % 32) / 16, oi = o % 16, cg = c / 4, ci = c % 4;
  return (((ob * K + k) * (C / 4) + cg) * 2 + h) * 64 + oi * 4 + ci;
}

// AVX2 packing (vpmaddwd, int16 pairs): blocks of 16 outputs (two registers of 8), per tap, per
// pair of channels: [ob][k][cp][h in 0..1][8 outputs][2 channels], w - 128 as int16.
static size_t packed_index_avx2(size_t o, size_t c, size_t k, size_t K, size_t C) {
  size_t ob = o / 16, h = (o % 16) / 8, oi = o % 8, cp = c / 2, ci = c % 2;
  return (((ob * K + k) * (C / 2) + cp) * 2 + h) * 16 + oi * 2 + ci;
}

PackedConv* pack_conv(const uint8_t* w, size_t O, size_t C, size_t K, int w_zero, float w_scale, const float* bias) {
  auto* conv = new PackedConv();
  conv->O = O;
  conv->C = C;
  conv->K = K;
  conv->w_zero = w_zero;
  conv->w_scale = w_scale;
  conv->isa = (O % 32 == 0 && C % 4 == 0) ? active_isa() : Isa::portable;
  // AVX2 packs int16 (twice the bytes): see packed_index_avx2.
  const size_t bytes = O * C * K * (conv->isa == Isa::avx2 ? 2 : 1);
  conv->packed = static_cast<int8_t*>(std::aligned_alloc(64, ((bytes + 63) / 64) * 64));
  conv->wsum = new int32_t[O];
  conv->bias = new float[O];
  for (size_t o = 0; o < O; ++o) {
    int32_t s = 0;
    for (size_t c = 0; c < C; ++c)
      for (size_t k = 0; k < K; ++k) {
        int8_t v = static_cast<int8_t>(static_cast<int>(w[(o * C + c) * K + k]) - 128);
        s += v;
        if (conv->isa == Isa::avx2)
          reinterpret_cast<int16_t*>(conv->packed)[packed_index_avx2(o, c, k, K, C)] = v;
        else
          conv->packed[conv->isa == Isa::avx512vnni ? packed_index(o, c, k, K, C) : (o * K + k) * C + c] = v;
      }
    conv->wsum[o] = s;
    conv->bias[o] = bias ? bias[o] : 0.0f;
  }
  return conv;
}

void free_conv(PackedConv* conv) {
  if (!conv) return;
  std::free(conv->packed);
  delete[] conv->wsum;
  delete[] conv->bias;
  delete conv;
}

// The per-call constants of the exact integer result:
//   sum (x - zx)(w - zw) = sum x w8 - zw8 * Sx[t] - zx * Sw[o] + n zx zw8,   w8 = w - 128, zw8 = zw - 128
// plus the graph's int32 bias floor(b / (sx sw)), then times (sx sw) in float.
struct Epilogue {
  float bias_scale;
  int32_t zw8, zx, n_zx_zw8;
  std::vector<int32_t> per_o;  // bias_q[o] - zx * Sw[o] + n zx zw8
};

static Epilogue epilogue(const PackedConv& conv, uint8_t x_zero, float x_scale) {
  Epilogue e;
  e.bias_scale = x_scale * conv.w_scale;
  e.zw8 = conv.w_zero - 128;
  e.zx = x_zero;
  e.n_zx_zw8 = static_cast<int32_t>(conv.C * conv.K) * e.zx * e.zw8;
  e.per_o.resize(conv.O);
  for (size_t o = 0; o < conv.O; ++o) {
    float q = std::floor(conv.bias[o] / e.bias_scale);
    e.per_o[o] = static_cast<int32_t>(q) - e.zx * conv.wsum[o] + e.n_zx_zw8;
  }
  return e;
}

static void conv_portable(const PackedConv& conv, const Epilogue& e, const uint8_t* q, const int32_t* rowsum,
                          size_t t0, size_t t1, size_t d, const float* residual, float* y) {
  const size_t C = conv.C, K = conv.K, O = conv.O;
  for (size_t t = t0; t < t1; ++t) {
    int32_t sx = 0;
    for (size_t k = 0; k < K; ++k) sx += rowsum[t + k * d];
    for (size_t o = 0; o < O; ++o) {
      int32_t acc = 0;
      for (size_t k = 0; k < K; ++k) {
        const uint8_t* xr = q + (t + k * d) * C;
        const int8_t* wr = conv.packed + (o * K + k) * C;
        for (size_t c = 0; c < C; ++c) acc += static_cast<int32_t>(xr[c]) * wr[c];
      }
      acc += e.per_o[o] - e.zw8 * sx;
      float v = static_cast<float>(acc) * e.bias_scale;
      y[t * O + o] = residual ? v + residual[t * O + o] : v;
    }
  }
}

template <int JT>
__attribute__((target(AVX512 ",avx512vnni"))) static inline void vnni_tile(
    const PackedConv& conv, const Epilogue& e, const uint8_t* q, const int32_t* rowsum, size_t t, size_t ob,
    size_t d, const float* residual, float* y) {
  const size_t C = conv.C, K = conv.K, O = conv.O, groups = C / 4;
  __m512i acc0[JT], acc1[JT];
  for (int j = 0; j < JT; ++j) acc0[j] = acc1[j] = _mm512_setzero_si512();
  for (size_t k = 0; k < K; ++k) {
    const uint8_t* xr = q + (t + k * d) * C;
    const int8_t* wp = conv.packed + ((ob * K + k) * groups) * 128;
    for (size_t g = 0; g < groups; ++g) {
      __m512i w0 = _mm512_load_si512(wp + g * 128);
      __m512i w1 = _mm512_load_si512(wp + g * 128 + 64);
      for (int j = 0; j < JT; ++j) {
        int32_t four;
        std::memcpy(&four, xr + j * C + g * 4, 4);
        __m512i b = _mm512_set1_epi32(four);
        acc0[j] = _mm512_dpbusd_epi32(acc0[j], b, w0);
        acc1[j] = _mm512_dpbusd_epi32(acc1[j], b, w1);
      }
    }
  }
  __m512i po0 = _mm512_loadu_si512(e.per_o.data() + ob * 32), po1 = _mm512_loadu_si512(e.per_o.data() + ob * 32 + 16);
  __m512 bs = _mm512_set1_ps(e.bias_scale);
  for (int j = 0; j < JT; ++j) {
    int32_t sx = 0;
    for (size_t k = 0; k < K; ++k) sx += rowsum[t + j + k * d];
    __m512i corr = _mm512_set1_epi32(e.zw8 * sx);
    __m512 v0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_add_epi32(acc0[j], po0), corr)), bs);
    __m512 v1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_add_epi32(acc1[j], po1), corr)), bs);
    float* out = y + (t + j) * O + ob * 32;
    if (residual) {
      const float* res = residual + (t + j) * O + ob * 32;
      v0 = _mm512_add_ps(v0, _mm512_loadu_ps(res));
      v1 = _mm512_add_ps(v1, _mm512_loadu_ps(res + 16));
    }
    _mm512_storeu_ps(out, v0);
    _mm512_storeu_ps(out + 16, v1);
  }
}

// AVX2: the input widened to int16 once per call (rows [0, rows)), then 16 outputs x 6 time steps
// of int32 accumulators per tile; vpmaddwd of a broadcast channel pair with 8 outputs' weight pairs.
template <int JT>
__attribute__((target("avx2,fma"))) static inline void avx2_tile(const PackedConv& conv, const Epilogue& e,
                                                                 const int16_t* x16, const int32_t* rowsum, size_t t,
                                                                 size_t ob, size_t d, const float* residual, float* y) {
  const size_t C = conv.C, K = conv.K, O = conv.O, pairs = C / 2;
  const int16_t* packed = reinterpret_cast<const int16_t*>(conv.packed);
  __m256i acc0[JT], acc1[JT];
  for (int j = 0; j < JT; ++j) acc0[j] = acc1[j] = _mm256_setzero_si256();
  for (size_t k = 0; k < K; ++k) {
    const int16_t* xr = x16 + (t + k * d) * C;
    const int16_t* wp = packed + ((ob * K + k) * pairs) * 32;
    for (size_t p = 0; p < pairs; ++p) {
      __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(wp + p * 32));
      __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(wp + p * 32 + 16));
      for (int j = 0; j < JT; ++j) {
        int32_t two;
        std::memcpy(&two, xr + j * C + p * 2, 4);
        __m256i b = _mm256_set1_epi32(two);
        acc0[j] = _mm256_add_epi32(acc0[j], _mm256_madd_epi16(b, w0));
        acc1[j] = _mm256_add_epi32(acc1[j], _mm256_madd_epi16(b, w1));
      }
    }
  }
  __m256i po0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.per_o.data() + ob * 16));
  __m256i po1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.per_o.data() + ob * 16 + 8));
  __m256 bs = _mm256_set1_ps(e.bias_scale);
  for (int j = 0; j < JT; ++j) {
    int32_t sx = 0;
    for (size_t k = 0; k < K; ++k) sx += rowsum[t + j + k * d];
    __m256i corr = _mm256_set1_epi32(e.zw8 * sx);
    __m256 v0 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_add_epi32(acc0[j], po0), corr)), bs);
    __m256 v1 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_add_epi32(acc1[j], po1), corr)), bs);
    float* out = y + (t + j) * O + ob * 16;
    if (residual) {
      const float* res = residual + (t + j) * O + ob * 16;
      v0 = _mm256_add_ps(v0, _mm256_loadu_ps(res));
      v1 = _mm256_add_ps(v1, _mm256_loadu_ps(res + 8));
    }
    _mm256_storeu_ps(out, v0);
    _mm256_storeu_ps(out + 8, v1);
  }
}

static constexpr size_t kTileAvx2 = 6;

static void conv_avx2(const PackedConv& conv, const Epilogue& e, const uint8_t* q, const int32_t* rowsum,
                      size_t t0, size_t t1, size_t d, const float* residual, float* y) {
  const size_t C = conv.C, span = (conv.K - 1) * d, blocks = conv.O / 16, chunk = 32 * kTileAvx2;
  std::vector<int16_t> x16;
  for (size_t c0 = t0; c0 < t1; c0 += chunk) {
    const size_t c1 = std::min(t1, c0 + chunk);
    x16.resize((c1 - c0 + span) * C);
    for (size_t i = 0; i < x16.size(); ++i) x16[i] = q[c0 * C + i];
    const int32_t* rs = rowsum + c0;
    float* yc = y + c0 * conv.O;
    const float* rc = residual ? residual + c0 * conv.O : nullptr;
    for (size_t ob = 0; ob < blocks; ++ob) {
      size_t t = 0;
      for (; t + kTileAvx2 <= c1 - c0; t += kTileAvx2) avx2_tile<kTileAvx2>(conv, e, x16.data(), rs, t, ob, d, rc, yc);
      for (; t < c1 - c0; ++t) avx2_tile<1>(conv, e, x16.data(), rs, t, ob, d, rc, yc);
    }
  }
}

static constexpr size_t kTile = 12;
static constexpr size_t kChunk = 16 * kTile;

static void conv_vnni(const PackedConv& conv, const Epilogue& e, const uint8_t* q, const int32_t* rowsum,
                      size_t t0, size_t t1, size_t d, const float* residual, float* y) {
  // Time in chunks of kChunk steps; within a chunk, one block of 32 outputs after the other, so
  // that one block's weights (up to 88 KB) and the chunk's input rows stay in L2 while they are
  // reused (all weights of a 256-channel conv with 11 taps are 720 KB: with the input they
  // outgrow L2 if every tile walks every block).
  const size_t blocks = conv.O / 32;
  for (size_t c0 = t0; c0 < t1; c0 += kChunk) {
    const size_t c1 = std::min(t1, c0 + kChunk);
    for (size_t ob = 0; ob < blocks; ++ob) {
      size_t t = c0;
      for (; t + kTile <= c1; t += kTile) vnni_tile<kTile>(conv, e, q, rowsum, t, ob, d, residual, y);
      for (; t < c1; ++t) vnni_tile<1>(conv, e, q, rowsum, t, ob, d, residual, y);
    }
  }
}

void conv_u8(const PackedConv& conv, const uint8_t* q, const int32_t* rowsum, size_t T, size_t dilation,
             uint8_t x_zero, float x_scale, const float* residual, float* y, int threads, double* sum,
             double* sumsq) {
  Epilogue e = epilogue(conv, x_zero, x_scale);
  const int workers = std::max(1, threads);
  const size_t O = conv.O;
  std::vector<double> acc(sum ? static_cast<size_t>(workers) * 2 * O : 0, 0.0);
  int used = parallel_ranges(T, kTile, workers, [&](int w, size_t a, size_t b) {
    // chunk by chunk, so that the output's moments are taken while the chunk is still in cache
    for (size_t c0 = a; c0 < b; c0 += kChunk) {
      const size_t c1 = std::min(b, c0 + kChunk);
      if (conv.isa == Isa::avx512vnni)
        conv_vnni(conv, e, q, rowsum, c0, c1, dilation, residual, y);
      else if (conv.isa == Isa::avx2)
        conv_avx2(conv, e, q, rowsum, c0, c1, dilation, residual, y);
      else
        conv_portable(conv, e, q, rowsum, c0, c1, dilation, residual, y);
      if (sum) {
        double* mine = acc.data() + static_cast<size_t>(w) * 2 * O;
        channel_moments_rows(y, c0, c1, O, mine, mine + O);
      }
    }
  });
  if (sum) {
    std::fill(sum, sum + O, 0.0);
    std::fill(sumsq, sumsq + O, 0.0);
    for (int w = 0; w < used; ++w)
      for (size_t o = 0; o < O; ++o) {
        sum[o] += acc[static_cast<size_t>(w) * 2 * O + o];
        sumsq[o] += acc[static_cast<size_t>(w) * 2 * O + O + o];
      }
  }
}

}  // namespace kokoro
