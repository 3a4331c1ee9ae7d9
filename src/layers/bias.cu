// src/layers/bias.cu — CUDA kernels for bias.h.
//
//   y: [N, C, inner], b: [C]     add_bias:  y[n,c,i] += b[c]
//   gy: [N, C, inner] -> gb: [C] bias_grad: gb[c] = sum over n,i of gy[n,c,i]
// bias_grad runs one block per channel and sums in double, like the CPU path, so both devices
// agree to float rounding even for N*P*Q ~ 1e6 terms.
#include "layers/bias.h"
#include "tensor/cuda_launch.cuh"

namespace graft::cuda {

__global__ void add_bias_kernel(float* y, const float* b, int64_t C, int64_t inner, int64_t total) {
  CUDA_KERNEL_LOOP(i, total) y[i] += b[(i / inner) % C];
}

__global__ void bias_grad_kernel(const float* gy, float* gb, int64_t N, int64_t C, int64_t inner) {
  const int64_t c = blockIdx.x;
  double s = 0.0;
  // j runs over the (n, i) pairs of this channel, so that Linear's inner == 1 still keeps every
  // thread busy.
  for (int64_t j = threadIdx.x; j < N * inner; j += blockDim.x) {
    const int64_t n = j / inner, i = j - n * inner;
    s += gy[(n * C + c) * inner + i];
  }
  s = block_sum(s);
  if (threadIdx.x == 0) gb[c] = static_cast<float>(s);
}

void add_bias(float* y, const float* b, int64_t N, int64_t C, int64_t inner) {
  const int64_t total = N * C * inner;
  if (total == 0) return;
  add_bias_kernel<<<grid_for(total), kThreads, 0, stream()>>>(y, b, C, inner, total);
  CUDA_CHECK_LAUNCH("add_bias_kernel");
}

void bias_grad(const float* gy, float* gb, int64_t N, int64_t C, int64_t inner) {
  if (C == 0) return;
  bias_grad_kernel<<<static_cast<unsigned>(C), kThreads, 0, stream()>>>(gy, gb, N, C, inner);
  CUDA_CHECK_LAUNCH("bias_grad_kernel");
}

}  // namespace graft::cuda
