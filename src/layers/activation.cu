// src/layers/activation.cu — CUDA kernels for activation.h (ReLU, sigmoid).
//
//   relu:    y = x > 0 ? x : 0           dx = y > 0 ? dy : 0
//   sigmoid: e = exp(-|x|), y = x >= 0 ? 1/(1+e) : e/(1+e)   dx = dy * y * (1 - y)
// x, y, gy, gx: any shape, n = numel, contiguous device memory. Same formulas as the CPU loops
// in activation_cpu.cpp (sigmoid never overflows exp); expf here vs std::exp there differ by ~1 ulp.
#include "layers/activation.h"
#include "tensor/cuda_launch.cuh"

namespace graft::cuda {
namespace {

// ---- kernels ------------------------------------------------------------------------------------

__global__ void relu_forward_kernel(const float* x, float* y, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}
__global__ void relu_backward_kernel(const float* y, const float* gy, float* gx, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) gx[i] = y[i] > 0.0f ? gy[i] : 0.0f;
}
__global__ void sigmoid_forward_kernel(const float* x, float* y, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) {
    const float e = expf(-fabsf(x[i]));
    y[i] = x[i] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
  }
}
__global__ void sigmoid_backward_kernel(const float* y, const float* gy, float* gx, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) gx[i] = gy[i] * y[i] * (1.0f - y[i]);
}

// ---- launchers ----------------------------------------------------------------------------------

void relu_forward_cuda(const Tensor& x, Tensor& y) {
  const int64_t n = x.numel();
  if (n == 0) return;
  relu_forward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(x.data(), y.data(), n);
  CUDA_CHECK_LAUNCH("relu_forward_kernel");
}
void relu_backward_cuda(const Tensor& y, const Tensor& gy, Tensor& gx) {
  const int64_t n = y.numel();
  if (n == 0) return;
  relu_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(y.data(), gy.data(), gx.data(), n);
  CUDA_CHECK_LAUNCH("relu_backward_kernel");
}
void sigmoid_forward_cuda(const Tensor& x, Tensor& y) {
  const int64_t n = x.numel();
  if (n == 0) return;
  sigmoid_forward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(x.data(), y.data(), n);
  CUDA_CHECK_LAUNCH("sigmoid_forward_kernel");
}
void sigmoid_backward_cuda(const Tensor& y, const Tensor& gy, Tensor& gx) {
  const int64_t n = y.numel();
  if (n == 0) return;
  sigmoid_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(y.data(), gy.data(), gx.data(), n);
  CUDA_CHECK_LAUNCH("sigmoid_backward_kernel");
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::relu_forward, CUDA, "cuda", relu_forward_cuda);
GRAFT_REGISTER_KERNEL(kernels::relu_backward, CUDA, "cuda", relu_backward_cuda);
GRAFT_REGISTER_KERNEL(kernels::sigmoid_forward, CUDA, "cuda", sigmoid_forward_cuda);
GRAFT_REGISTER_KERNEL(kernels::sigmoid_backward, CUDA, "cuda", sigmoid_backward_cuda);

}  // namespace graft::cuda
