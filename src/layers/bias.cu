// src/layers/bias.cu — CUDA kernels for bias.h.
//
//   y: [N, C, inner], b: [C]     add_bias:  y[n,c,i] += b[c]
//   gy: [N, C, inner] -> gb: [C] bias_grad: gb[c] = sum over n,i of gy[n,c,i]
// bias_grad sums in double, like the CPU path, so both devices agree to float rounding even for
// N*P*Q ~ 1e6 terms. It runs in two deterministic passes (no atomics): a grid of C x S blocks
// where block (c, s) sums its share of channel c into partial[c][s], then one thread per channel
// adds its S partial sums. S splits a channel over several blocks so that a layer with few
// channels (VGG's first conv: 64 channels of 64 x 224 x 224 values) still fills the GPU.
#include <algorithm>

#include "layers/bias.h"
#include "tensor/cuda_launch.cuh"

namespace graft::cuda {
namespace {

__global__ void add_bias_kernel(float* y, const float* b, int64_t C, int64_t inner, int64_t total) {
  CUDA_KERNEL_LOOP(i, total) y[i] += b[(i / inner) % C];
}

// Block (c = blockIdx.x, s = blockIdx.y) of S = gridDim.y sums its share of channel c.
__global__ void bias_grad_partial_kernel(const float* gy, double* partial, int64_t N, int64_t C, int64_t inner) {
  const int64_t c = blockIdx.x, s = blockIdx.y, S = gridDim.y;
  double acc = 0.0;
  if (inner >= blockDim.x) {  // conv: long rows; the block takes images s, s+S, ... whole
    for (int64_t n = s; n < N; n += S) {
      const float* row = gy + (n * C + c) * inner;
      for (int64_t i = threadIdx.x; i < inner; i += blockDim.x) acc += row[i];
    }
  } else {  // Linear (inner == 1) or tiny maps: stride over the flat (n, i) pairs instead
    for (int64_t j = s * blockDim.x + threadIdx.x; j < N * inner; j += S * blockDim.x) {
      const int64_t n = j / inner, i = j - n * inner;
      acc += gy[(n * C + c) * inner + i];
    }
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[c * S + s] = acc;
}

__global__ void bias_grad_final_kernel(const double* partial, float* gb, int64_t C, int64_t S) {
  CUDA_KERNEL_LOOP(c, C) {
    double acc = 0.0;
    for (int64_t s = 0; s < S; ++s) acc += partial[c * S + s];
    gb[c] = static_cast<float>(acc);
  }
}

// y: [N,C,...] -> (N, C, inner = the product of the trailing dims)
void planes(const Tensor& t, int64_t& N, int64_t& C, int64_t& inner) {
  N = t.size(0), C = t.size(1), inner = N * C > 0 ? t.numel() / (N * C) : 0;
}

void add_bias_cuda(Tensor& y, const Tensor& bias) {
  int64_t N, C, inner;
  planes(y, N, C, inner);
  const int64_t total = N * C * inner;
  if (total == 0) return;
  add_bias_kernel<<<grid_for(total), kThreads, 0, stream()>>>(y.data(), bias.data(), C, inner, total);
  CUDA_CHECK_LAUNCH("add_bias_kernel");
}

void bias_grad_cuda(const Tensor& grad_y, Tensor& grad_b) {
  int64_t N, C, inner;
  planes(grad_y, N, C, inner);
  if (C == 0) return;
  const float* gy = grad_y.data();
  float* gb = grad_b.data();
  // About 4 blocks per SM in total, never more splits than there is work for (and <= 64).
  const int64_t work_blocks = inner >= kThreads ? N : (N * inner + kThreads - 1) / kThreads;
  const int64_t S = std::max<int64_t>(1, std::min<int64_t>({(4 * sm_count() + C - 1) / C, work_blocks, 64}));
  auto* partial = static_cast<double*>(cuda::malloc(C * S * sizeof(double)));
  bias_grad_partial_kernel<<<dim3(static_cast<unsigned>(C), static_cast<unsigned>(S)), kThreads, 0, stream()>>>(
      gy, partial, N, C, inner);
  CUDA_CHECK_LAUNCH("bias_grad_partial_kernel");
  bias_grad_final_kernel<<<grid_for(C), kThreads, 0, stream()>>>(partial, gb, C, S);
  CUDA_CHECK_LAUNCH("bias_grad_final_kernel");
  cuda::free(partial);  // safe: stream order (cuda_context.h)
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::add_bias, CUDA, "cuda", add_bias_cuda);
GRAFT_REGISTER_KERNEL(kernels::bias_grad, CUDA, "cuda", bias_grad_cuda);

}  // namespace graft::cuda
