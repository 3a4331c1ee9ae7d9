// src/layers/softmax_cpu.cpp — the CPU kernels of softmax.h: one row per OpenMP iteration, the
// row sums in double.
#include <algorithm>
#include <cmath>

#include "layers/softmax.h"

namespace graft {
namespace {

// One row per OpenMP iteration: x, y: [N,L]. log = true writes log-probabilities.
void softmax_forward_cpu(const Tensor& x, Tensor& y, bool log) {
  const int64_t N = x.size(0), L = x.size(1);
  const float* px = x.data();
  float* py = y.data();
#pragma omp parallel for if (N * L > 32768)
  for (int64_t n = 0; n < N; ++n) {
    const float* row = px + n * L;
    float* out = py + n * L;
    const float m = L > 0 ? *std::max_element(row, row + L) : 0.0f;
    double s = 0.0;  // sum of exp(x - m) >= 1: no underflow to log(0)
    for (int64_t i = 0; i < L; ++i) s += std::exp(static_cast<double>(row[i]) - m);
    if (log) {
      const double log_s = std::log(s);
      for (int64_t i = 0; i < L; ++i) out[i] = static_cast<float>(row[i] - m - log_s);
    } else {
      for (int64_t i = 0; i < L; ++i) out[i] = static_cast<float>(std::exp(static_cast<double>(row[i]) - m) / s);
    }
  }
}

// y, gy, gx: [N,L]. softmax: dx = y * (dy - sum(dy*y)); log_softmax: dx = dy - exp(y) * sum(dy).
void softmax_backward_cpu(const Tensor& y, const Tensor& gy, Tensor& gx, bool log) {
  const int64_t N = y.size(0), L = y.size(1);
  const float *py = y.data(), *pg = gy.data();
  float* out = gx.data();
#pragma omp parallel for if (N * L > 32768)
  for (int64_t n = 0; n < N; ++n) {
    const float *yr = py + n * L, *gr = pg + n * L;
    float* o = out + n * L;
    double dot = 0.0;
    for (int64_t i = 0; i < L; ++i) dot += log ? gr[i] : static_cast<double>(gr[i]) * yr[i];
    for (int64_t i = 0; i < L; ++i)
      o[i] = log ? static_cast<float>(gr[i] - std::exp(static_cast<double>(yr[i])) * dot)
                 : static_cast<float>(yr[i] * (gr[i] - dot));
  }
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::softmax_forward, CPU, kIsa, softmax_forward_cpu);
GRAFT_REGISTER_KERNEL(kernels::softmax_backward, CPU, kIsa, softmax_backward_cpu);

}  // namespace graft
