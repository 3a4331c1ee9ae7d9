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

// One launcher pair for every activation: y = f(x), and gx = gy * f'(x) written in terms of y.
template <void (*Kernel)(const float*, float*, int64_t)>
void forward_cuda(const Tensor& x, Tensor& y) {
  CUDA_LAUNCH_OVER(x.numel(), Kernel, x.data(), y.data(), x.numel());
}
template <void (*Kernel)(const float*, const float*, float*, int64_t)>
void backward_cuda(const Tensor& y, const Tensor& gy, Tensor& gx) {
  CUDA_LAUNCH_OVER(y.numel(), Kernel, y.data(), gy.data(), gx.data(), y.numel());
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::relu_forward, CUDA, "cuda", forward_cuda<relu_forward_kernel>);
GRAFT_REGISTER_KERNEL(kernels::relu_backward, CUDA, "cuda", backward_cuda<relu_backward_kernel>);
GRAFT_REGISTER_KERNEL(kernels::sigmoid_forward, CUDA, "cuda", forward_cuda<sigmoid_forward_kernel>);
GRAFT_REGISTER_KERNEL(kernels::sigmoid_backward, CUDA, "cuda", backward_cuda<sigmoid_backward_kernel>);

}  // namespace graft::cuda
