// Python bindings (nanobind) of the vocoder kernels: numpy arrays in, numpy arrays out.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>

#include <stdexcept>
#include <string>

#include "kernels.h"

namespace nb = nanobind;
using namespace nb::literals;

template <typename T>
using In = nb::ndarray<const T, nb::numpy, nb::c_contig, nb::device::cpu>;
template <typename T>
static nb::ndarray<nb::numpy, T> owned(size_t rows, size_t cols) {
  T* data = new T[rows * cols];
  nb::capsule owner(data, [](void* p) noexcept { delete[] static_cast<T*>(p); });
  size_t shape[2] = {rows, cols};
  return nb::ndarray<nb::numpy, T>(data, 2, shape, owner);
}

template <typename T>
static nb::ndarray<nb::numpy, T> owned1(size_t n) {
  T* data = new T[n];
  nb::capsule owner(data, [](void* p) noexcept { delete[] static_cast<T*>(p); });
  size_t shape[1] = {n};
  return nb::ndarray<nb::numpy, T>(data, 1, shape, owner);
}

static void need(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(what);
}

struct Conv {
  kokoro::PackedConv* p = nullptr;
  size_t dilation = 1, pad = 0;
  ~Conv() { kokoro::free_conv(p); }
};

NB_MODULE(_kernels, m) {
  m.doc() = "Native kernels of the Kokoro vocoder (runtime CPU dispatch: avx512vnni, avx2, portable)";

  m.def("detected_isa", [] { return std::string(kokoro::isa_name(kokoro::detected_isa())); });
  m.def("active_isa", [] { return std::string(kokoro::isa_name(kokoro::active_isa())); });
  m.def("set_isa", [](const std::string& name) {
    kokoro::Isa isa = name == "avx512vnni" ? kokoro::Isa::avx512vnni
                      : name == "avx2"     ? kokoro::Isa::avx2
                      : name == "portable" ? kokoro::Isa::portable
                                           : throw std::invalid_argument("isa: avx512vnni, avx2 or portable");
    kokoro::set_isa(isa);
    return std::string(kokoro::isa_name(kokoro::active_isa()));
  });

  m.def("snake_rows", [](In<float> x, In<float> alpha) {
    need(x.ndim() == 2 && alpha.ndim() == 1 && alpha.shape(0) == x.shape(0), "x [rows, n], alpha [rows]");
    size_t rows = x.shape(0), n = x.shape(1);
    auto y = owned<float>(rows, n);
    auto inv = owned1<float>(rows);
    for (size_t r = 0; r < rows; ++r) inv.data()[r] = 1.0f / alpha.data()[r];
    {
      nb::gil_scoped_release release;
      kokoro::snake_rows(x.data(), y.data(), alpha.data(), inv.data(), rows, n);
    }
    return y;
  }, "x"_a, "alpha"_a, "y = x + sin(alpha x)^2 / alpha per row of a [rows, n] float32 array");

  m.def("adain_snake_quantize",
        [](In<float> x, In<float> gain, In<float> beta, In<float> alpha, In<float> inv_alpha, float eps,
           size_t pad_left, size_t pad_right, int threads, nb::object stats) {
          need(x.ndim() == 2, "x is time-major [T, C]");
          size_t T = x.shape(0), C = x.shape(1);
          need(T > 0, "x has no time steps");
          need(gain.size() == C && beta.size() == C && alpha.size() == C && inv_alpha.size() == C,
               "gain, beta, alpha, inv_alpha have C values");
          const double *sum = nullptr, *sumsq = nullptr;
          In<double> s1, s2;
          if (!stats.is_none()) {
            auto pair = nb::cast<nb::tuple>(stats);
            need(pair.size() == 2, "stats is (sum, sum of squares)");
            s1 = nb::cast<In<double>>(pair[0]);
            s2 = nb::cast<In<double>>(pair[1]);
            need(s1.size() == C && s2.size() == C, "stats have C values each");
            sum = s1.data();
            sumsq = s2.data();
          }
          auto q = owned<uint8_t>(pad_left + T + pad_right, C);
          auto rowsum = owned1<int32_t>(pad_left + T + pad_right);
          float scale;
          uint8_t zero;
          {
            nb::gil_scoped_release release;
            float* scratch = new float[T * C];
            kokoro::adain_snake_quantize(x.data(), T, C, gain.data(), beta.data(), alpha.data(), inv_alpha.data(),
                                         eps, pad_left, pad_right, scratch, q.data(), rowsum.data(), &scale, &zero, threads, sum, sumsq);
            delete[] scratch;
          }
          return nb::make_tuple(q, rowsum, scale, static_cast<int>(zero));
        },
        "x"_a, "gain"_a, "beta"_a, "alpha"_a, "inv_alpha"_a, "eps"_a, "pad_left"_a, "pad_right"_a, "threads"_a = 1, "stats"_a = nb::none(),
        "instance norm + (gain, beta) + snake, quantized to uint8 with padding rows: (q, rowsum, scale, zero); "
        "stats: x's per-channel (sum, sum of squares) when already known (from Conv(..., stats=True))");

  m.def("channel_moments", [](In<float> x, int threads) {
    need(x.ndim() == 2, "x is time-major [T, C]");
    size_t T = x.shape(0), C = x.shape(1);
    auto sum = owned1<double>(C);
    auto sq = owned1<double>(C);
    {
      nb::gil_scoped_release release;
      kokoro::channel_moments(x.data(), T, C, sum.data(), sq.data(), threads);
    }
    return nb::make_tuple(sum, sq);
  }, "x"_a, "threads"_a = 1, "per-channel (sum, sum of squares) of a time-major [T, C] float32 array, in float64");

  nb::class_<Conv>(m, "Conv")
      .def("__init__",
           [](Conv* self, In<uint8_t> w, int w_zero, float w_scale, In<float> bias, size_t dilation, size_t pad) {
             need(w.ndim() == 3, "w is uint8 [O, C, K]");
             size_t O = w.shape(0), C = w.shape(1), K = w.shape(2);
             need(bias.size() == O, "bias has O values");
             need(2 * pad == (K - 1) * dilation, "only 'same' convolutions: 2 pad = (K - 1) dilation");
             new (self) Conv();
             self->p = kokoro::pack_conv(w.data(), O, C, K, w_zero, w_scale, bias.data());
             self->dilation = dilation;
             self->pad = pad;
           },
           "w"_a, "w_zero"_a, "w_scale"_a, "bias"_a, "dilation"_a, "pad"_a)
      .def_prop_ro("isa", [](const Conv& c) { return std::string(kokoro::isa_name(c.p->isa)); })
      .def_prop_ro("pad", [](const Conv& c) { return c.pad; })
      .def("__call__",
           [](const Conv& c, In<uint8_t> q, In<int32_t> rowsum, int x_zero, float x_scale, nb::object residual,
              int threads, bool stats) -> nb::object {
             const kokoro::PackedConv& p = *c.p;
             need(q.ndim() == 2 && q.shape(1) == p.C && q.shape(0) > (p.K - 1) * c.dilation, "q is [T + pads, C]");
             need(rowsum.size() == q.shape(0), "rowsum has a value per row of q");
             size_t T = q.shape(0) - (p.K - 1) * c.dilation;
             const float* res = nullptr;
             In<float> r;
             if (!residual.is_none()) {
               r = nb::cast<In<float>>(residual);
               need(r.ndim() == 2 && r.shape(0) == T && r.shape(1) == p.O, "residual is [T, O]");
               res = r.data();
             }
             need(x_zero >= 0 && x_zero <= 255, "x_zero is a uint8 zero point");
             auto y = owned<float>(T, p.O);
             auto sum = owned1<double>(stats ? p.O : 1);
             auto sq = owned1<double>(stats ? p.O : 1);
             {
               nb::gil_scoped_release release;
               kokoro::conv_u8(p, q.data(), rowsum.data(), T, c.dilation, static_cast<uint8_t>(x_zero), x_scale, res,
                               y.data(), threads, stats ? sum.data() : nullptr, stats ? sq.data() : nullptr);
             }
             if (stats) return nb::make_tuple(y, nb::make_tuple(sum, sq));
             return nb::cast(y);
           },
           "q"_a, "rowsum"_a, "x_zero"_a, "x_scale"_a, "residual"_a = nb::none(), "threads"_a = 1, "stats"_a = false,
           "y [T, O] (+ residual); with stats=True (y, (sum, sum of squares)) of y per channel");
}
