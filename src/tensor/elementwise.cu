// src/tensor/elementwise.cu — the CUDA kernels of elementwise.h (and Tensor::fill_).
//
//   add/sub/mul: y[i] = a[i] op b[i]       axpby: y[i] = alpha*x[i] + beta*y[i]
//   scale: y[i] = s*a[i]                   fill: p[i] = value
//   sum: out[0] = sum_i a[i] (accumulated in double, like the CPU path)
//   max_abs: max_i |a[i]| (read back to the host: the one call here that waits for the GPU)
// All pointers are device pointers of n floats; y may alias a or x (in-place ops).
// Layout: kernels first (`*_kernel`), then the launchers (`*_cuda`), then their registration.
#include <cuda_runtime.h>

#include "tensor/cuda_launch.cuh"
#include "tensor/elementwise.h"

namespace graft::cuda {
namespace {

// ---- kernels ------------------------------------------------------------------------------------

__global__ void add_kernel(const float* a, const float* b, float* y, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) y[i] = a[i] + b[i];
}
__global__ void sub_kernel(const float* a, const float* b, float* y, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) y[i] = a[i] - b[i];
}
__global__ void mul_kernel(const float* a, const float* b, float* y, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) y[i] = a[i] * b[i];
}
__global__ void axpby_kernel(float* y, float alpha, const float* x, float beta, int64_t n) {
  // beta == 0 must not read y: it may hold NaN garbage from an uninitialized buffer.
  if (beta == 0.0f) {
    CUDA_KERNEL_LOOP(i, n) y[i] = alpha * x[i];
  } else {
    CUDA_KERNEL_LOOP(i, n) y[i] = alpha * x[i] + beta * y[i];
  }
}
__global__ void scale_kernel(const float* a, float s, float* y, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) y[i] = s * a[i];
}
__global__ void fill_kernel(float* p, int64_t n, float value) {
  CUDA_KERNEL_LOOP(i, n) p[i] = value;
}

// Pass 1: each block writes the double sum of its grid-stride share to partial[blockIdx.x].
__global__ void sum_partial_kernel(const float* a, double* partial, int64_t n) {
  double s = 0.0;
  CUDA_KERNEL_LOOP(i, n) s += a[i];
  s = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}
// Pass 2: one block adds the partial sums and writes the float result.
__global__ void sum_final_kernel(const double* partial, int blocks, float* out) {
  double s = 0.0;
  for (int i = threadIdx.x; i < blocks; i += blockDim.x) s += partial[i];
  s = block_sum(s);
  if (threadIdx.x == 0) out[0] = static_cast<float>(s);
}

__global__ void max_abs_partial_kernel(const float* a, float* partial, int64_t n) {
  float m = 0.0f;
  // fmaxf ignores NaN operands, like std::fmax in the CPU path: same answer on both devices.
  CUDA_KERNEL_LOOP(i, n) m = fmaxf(m, fabsf(a[i]));
  m = block_max_all(m, 0.0f);
  if (threadIdx.x == 0) partial[blockIdx.x] = m;
}
__global__ void max_abs_final_kernel(const float* partial, int blocks, float* out) {
  float m = 0.0f;
  for (int i = threadIdx.x; i < blocks; i += blockDim.x) m = fmaxf(m, partial[i]);
  m = block_max_all(m, 0.0f);
  if (threadIdx.x == 0) out[0] = m;
}

// ---- launchers ----------------------------------------------------------------------------------

void add_cuda(const Tensor& a, const Tensor& b, Tensor& y) {
  CUDA_LAUNCH_OVER(y.numel(), add_kernel, a.data(), b.data(), y.data(), y.numel());
}
void sub_cuda(const Tensor& a, const Tensor& b, Tensor& y) {
  CUDA_LAUNCH_OVER(y.numel(), sub_kernel, a.data(), b.data(), y.data(), y.numel());
}
void mul_cuda(const Tensor& a, const Tensor& b, Tensor& y) {
  CUDA_LAUNCH_OVER(y.numel(), mul_kernel, a.data(), b.data(), y.data(), y.numel());
}
void axpby_cuda(Tensor& y, float alpha, const Tensor& x, float beta) {
  CUDA_LAUNCH_OVER(y.numel(), axpby_kernel, y.data(), alpha, x.data(), beta, y.numel());
}
void scale_cuda(const Tensor& a, float s, Tensor& y) {
  CUDA_LAUNCH_OVER(y.numel(), scale_kernel, a.data(), s, y.data(), y.numel());
}
void fill_cuda(Tensor& t, float value) { CUDA_LAUNCH_OVER(t.numel(), fill_kernel, t.data(), t.numel(), value); }

// Partial results live in a small temporary block from the caching allocator; freeing it right
// after queuing the final kernel is safe (stream order, see cuda_context.h).
void sum_cuda(const Tensor& a, Tensor& out) {
  const int64_t n = a.numel();
  const int blocks = grid_for(n);
  auto* partial = static_cast<double*>(cuda::malloc(blocks * sizeof(double)));
  sum_partial_kernel<<<blocks, kThreads, 0, stream()>>>(a.data(), partial, n);
  CUDA_CHECK_LAUNCH("sum_partial_kernel");
  sum_final_kernel<<<1, 1024, 0, stream()>>>(partial, blocks, out.data());
  CUDA_CHECK_LAUNCH("sum_final_kernel");
  cuda::free(partial);
}

float max_abs_cuda(const Tensor& a) {
  const int64_t n = a.numel();
  if (n == 0) return 0.0f;
  const int blocks = grid_for(n);
  auto* partial = static_cast<float*>(cuda::malloc((blocks + 1) * sizeof(float)));
  max_abs_partial_kernel<<<blocks, kThreads, 0, stream()>>>(a.data(), partial, n);
  CUDA_CHECK_LAUNCH("max_abs_partial_kernel");
  max_abs_final_kernel<<<1, 1024, 0, stream()>>>(partial, blocks, partial + blocks);
  CUDA_CHECK_LAUNCH("max_abs_final_kernel");
  float m = 0.0f;
  CUDA_CHECK(cudaMemcpyAsync(&m, partial + blocks, sizeof(float), cudaMemcpyDeviceToHost, stream()));
  synchronize_stream();  // the one call here that waits for the GPU
  cuda::free(partial);
  return m;
}

}  // namespace

GRAFT_REGISTER_KERNELS(CUDA, "cuda", _cuda, add, sub, mul, scale, axpby, sum, max_abs, fill);

}  // namespace graft::cuda
