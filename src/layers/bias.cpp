// src/layers/bias.cpp — see bias.h.
#include "layers/bias.h"

#include <vector>

namespace graft {

void add_bias_(Tensor& y, const Tensor& bias) {
  const int64_t N = y.size(0), C = y.size(1), inner = N * C > 0 ? y.numel() / (N * C) : 0;
  check_shape("add_bias_", "bias", bias, {C});
  check_same_device("add_bias_", y, bias);
  if (y.is_cuda()) return cuda::add_bias(y.data(), bias.data(), N, C, inner);
  float* py = y.data();
  const float* pb = bias.data();
#pragma omp parallel for collapse(2) if (N * C * inner > 32768)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      float* row = py + (n * C + c) * inner;
      for (int64_t i = 0; i < inner; ++i) row[i] += pb[c];
    }
}

Tensor bias_grad(const Tensor& gy, int64_t C) {
  const int64_t N = gy.size(0), inner = N * C > 0 ? gy.numel() / (N * C) : 0;
  Tensor gb = Tensor::empty({C}, DType::Float32, gy.device());
  if (gy.is_cuda()) {
    cuda::bias_grad(gy.data(), gb.data(), N, C, inner);
    return gb;
  }
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
  return gb;
}

}  // namespace graft
