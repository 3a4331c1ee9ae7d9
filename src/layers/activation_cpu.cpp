// src/layers/activation_cpu.cpp — the CPU kernels of activation.h (ReLU, sigmoid): one loop
// each, over the cores for large tensors.
#include <cmath>

#include "layers/activation.h"

namespace graft {
namespace {

constexpr int64_t kParallelGrain = 1 << 15;  // shorter loops stay on one thread

void relu_forward_cpu(const Tensor& x, Tensor& y) {
  const int64_t n = x.numel();
  const float* px = x.data();
  float* py = y.data();
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) py[i] = px[i] > 0.0f ? px[i] : 0.0f;
}

void relu_backward_cpu(const Tensor& y, const Tensor& gy, Tensor& gx) {  // dx = dy where y > 0 (x = 0 gets 0, as PyTorch)
  const int64_t n = y.numel();
  const float *py = y.data(), *pg = gy.data();
  float* out = gx.data();
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) out[i] = py[i] > 0.0f ? pg[i] : 0.0f;
}

void sigmoid_forward_cpu(const Tensor& x, Tensor& y) {
  const int64_t n = x.numel();
  const float* px = x.data();
  float* py = y.data();
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    // exp of a non-positive number only: never overflows.
    const float e = std::exp(-std::fabs(px[i]));
    py[i] = px[i] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
  }
}

void sigmoid_backward_cpu(const Tensor& y, const Tensor& gy, Tensor& gx) {  // dx = dy * y * (1 - y)
  const int64_t n = y.numel();
  const float *py = y.data(), *pg = gy.data();
  float* out = gx.data();
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) out[i] = pg[i] * py[i] * (1.0f - py[i]);
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::relu_forward, CPU, kIsa, relu_forward_cpu);
GRAFT_REGISTER_KERNEL(kernels::relu_backward, CPU, kIsa, relu_backward_cpu);
GRAFT_REGISTER_KERNEL(kernels::sigmoid_forward, CPU, kIsa, sigmoid_forward_cpu);
GRAFT_REGISTER_KERNEL(kernels::sigmoid_backward, CPU, kIsa, sigmoid_backward_cpu);

}  // namespace graft
