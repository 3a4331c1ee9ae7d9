// src/layers/bias_cpu.cpp — the CPU kernels of bias.h.
#include "layers/bias.h"

namespace graft {
namespace {

// y: [N,C,inner] viewed flat; inner = H*W for a convolution, 1 for Linear.
struct Planes {
  int64_t N, C, inner;
};
Planes planes(const Tensor& t) {
  const int64_t N = t.size(0), C = t.size(1);
  return {N, C, N * C > 0 ? t.numel() / (N * C) : 0};
}

void add_bias_cpu(Tensor& y, const Tensor& bias) {
  // Plain variables, not a structured binding: clang before 16 (the fuzz build's clang 14,
  // tests/run_fuzz.sh) cannot use structured bindings inside OpenMP regions or lambdas.
  const Planes s_ = planes(y);
  const int64_t N = s_.N, C = s_.C, inner = s_.inner;
  float* py = y.data();
  const float* pb = bias.data();
#pragma omp parallel for collapse(2) if (N * C * inner > 32768)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      float* row = py + (n * C + c) * inner;
      for (int64_t i = 0; i < inner; ++i) row[i] += pb[c];
    }
}

void bias_grad_cpu(const Tensor& gy, Tensor& gb) {
  const Planes s_ = planes(gy);
  const int64_t N = s_.N, C = s_.C, inner = s_.inner;
  const float* p = gy.data();
  float* out = gb.data();
#pragma omp parallel for if (N * C * inner > 32768)
  for (int64_t c = 0; c < C; ++c) {
    double s = 0.0;  // double: a sum over N*P*Q terms would lose float precision
    for (int64_t n = 0; n < N; ++n) {
      const float* row = p + (n * C + c) * inner;
      for (int64_t i = 0; i < inner; ++i) s += row[i];
    }
    out[c] = static_cast<float>(s);
  }
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::add_bias, CPU, kIsa, add_bias_cpu);
GRAFT_REGISTER_KERNEL(kernels::bias_grad, CPU, kIsa, bias_grad_cpu);

}  // namespace graft
