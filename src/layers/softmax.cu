// src/layers/softmax.cu — CUDA kernels for softmax.h: one block per row of [N, L].
//
//   m = max_j x_j, s = sum_j exp(x_j - m)  (in double, like the CPU path)
//   softmax: y = exp(x - m) / s            dx = y * (dy - sum_j dy_j y_j)
//   log_softmax: y = x - m - log(s)        dx = dy - exp(y) * sum_j dy_j
// Each row is read by all threads of its block (strided), reduced with block_max_all /
// block_sum_all, then written. Classifier heads have L ~ 2..1000, so one block per row keeps
// every row's reductions in shared memory with no extra launches.
#include "layers/softmax.h"
#include "tensor/cuda_launch.cuh"

namespace graft::cuda {

// ---- kernels ------------------------------------------------------------------------------------

__global__ void softmax_forward_kernel(const float* x, float* y, int64_t L, bool log) {
  const float* row = x + blockIdx.x * L;
  float* out = y + blockIdx.x * L;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x) m = fmaxf(m, row[j]);
  m = block_max_all(m, -INFINITY);
  double s = 0.0;
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x) s += exp(static_cast<double>(row[j]) - m);
  s = block_sum_all(s);
  if (log) {
    const double log_s = ::log(s);
    for (int64_t j = threadIdx.x; j < L; j += blockDim.x) out[j] = static_cast<float>(row[j] - m - log_s);
  } else {
    for (int64_t j = threadIdx.x; j < L; j += blockDim.x)
      out[j] = static_cast<float>(exp(static_cast<double>(row[j]) - m) / s);
  }
}

__global__ void softmax_backward_kernel(const float* y, const float* gy, float* gx, int64_t L, bool log) {
  const float *yr = y + blockIdx.x * L, *gr = gy + blockIdx.x * L;
  float* o = gx + blockIdx.x * L;
  double dot = 0.0;  // log: sum(dy); softmax: sum(dy * y)
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x) dot += log ? gr[j] : static_cast<double>(gr[j]) * yr[j];
  dot = block_sum_all(dot);
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x)
    o[j] = log ? static_cast<float>(gr[j] - exp(static_cast<double>(yr[j])) * dot)
               : static_cast<float>(yr[j] * (gr[j] - dot));
}

// ---- launchers ----------------------------------------------------------------------------------

namespace {
// Blocks index rows: N must fit the grid's x dimension (2^31 - 1), L any size.
void softmax_forward_cuda(const Tensor& x, Tensor& y, bool log) {
  const int64_t N = x.size(0), L = x.size(1);
  if (N == 0 || L == 0) return;
  softmax_forward_kernel<<<static_cast<unsigned>(N), kThreads, 0, stream()>>>(x.data(), y.data(), L, log);
  CUDA_CHECK_LAUNCH("softmax_forward_kernel");
}
void softmax_backward_cuda(const Tensor& y, const Tensor& gy, Tensor& gx, bool log) {
  const int64_t N = y.size(0), L = y.size(1);
  if (N == 0 || L == 0) return;
  softmax_backward_kernel<<<static_cast<unsigned>(N), kThreads, 0, stream()>>>(y.data(), gy.data(), gx.data(), L,
                                                                                log);
  CUDA_CHECK_LAUNCH("softmax_backward_kernel");
}
}  // namespace

GRAFT_REGISTER_KERNEL(kernels::softmax_forward, CUDA, "cuda", softmax_forward_cuda);
GRAFT_REGISTER_KERNEL(kernels::softmax_backward, CUDA, "cuda", softmax_backward_cuda);

}  // namespace graft::cuda
