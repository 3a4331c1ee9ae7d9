// src/tensor/cuda_launch.cuh — launch sizing and block reductions shared by graft's kernels.
//
// Elementwise kernels are grid-stride loops (llm.c / CUDA best-practice style): each thread
// handles i, i + gridDim*blockDim, ... so one launch covers any n with a bounded grid.
// Reductions: each warp reduces with shuffles, warp 0 combines the per-warp results.
#pragma once

#include <cstdint>

#include "tensor/cuda_context.h"

namespace graft::cuda {

constexpr int kThreads = 256;

// for (i = this thread's first index; i < n; i += all threads of the grid)  — Caffe's name.
#define CUDA_KERNEL_LOOP(i, n)                                                                 \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n);                   \
       i += int64_t(gridDim.x) * blockDim.x)

// Enough blocks to fill the GPU several times over, never more than the work needs.
inline int grid_for(int64_t n, int threads = kThreads) {
  int64_t want = (n + threads - 1) / threads;
  int64_t cap = int64_t(sm_count()) * 32;
  return static_cast<int>(want < cap ? (want > 0 ? want : 1) : cap);
}

// The launch of an elementwise (grid-stride) kernel over n items on graft's stream, and its
// check; nothing when n is 0:  CUDA_LAUNCH_OVER(n, relu_forward_kernel, x.data(), y.data(), n)
// is  relu_forward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(x.data(), y.data(), n).
#define CUDA_LAUNCH_OVER(n, kernel, ...)                                            \
  do {                                                                              \
    const int64_t graft_items_ = (n);                                               \
    if (graft_items_ == 0) break;                                                   \
    kernel<<<::graft::cuda::grid_for(graft_items_), ::graft::cuda::kThreads, 0,     \
             ::graft::cuda::stream()>>>(__VA_ARGS__);                               \
    CUDA_CHECK_LAUNCH(#kernel);                                                     \
  } while (0)

template <class T>
__device__ inline T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}
template <class T>
__device__ inline T warp_max(T v) {
  for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_down_sync(0xffffffffu, v, o));
  return v;
}

// Sum of v over the block; the result is valid in thread 0. blockDim.x must be a multiple of
// 32 (at most 1024). Contains __syncthreads: every thread of the block must call it.
template <class T>
__device__ inline T block_sum(T v) {
  __shared__ T partial[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = warp_sum(v);
  __syncthreads();  // protects `partial` when block_sum is called twice in a row
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = threadIdx.x < blockDim.x / 32 ? partial[lane] : T(0);
  if (warp == 0) v = warp_sum(v);
  return v;
}

// Max of v over the block, valid in every thread (broadcast through shared memory).
template <class T>
__device__ inline T block_max_all(T v, T lowest) {
  __shared__ T partial[32];
  __shared__ T result;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = threadIdx.x < blockDim.x / 32 ? partial[lane] : lowest;
  if (warp == 0) v = warp_max(v);
  if (threadIdx.x == 0) result = v;
  __syncthreads();
  return result;
}

// Sum over the block, valid in every thread.
template <class T>
__device__ inline T block_sum_all(T v) {
  __shared__ T result;
  v = block_sum(v);
  if (threadIdx.x == 0) result = v;
  __syncthreads();
  return result;
}

}  // namespace graft::cuda
