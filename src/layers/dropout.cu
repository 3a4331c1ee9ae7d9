// src/layers/dropout.cu — the dropout mask on the GPU (dropout.h).
//
//   u_i = uniform [0,1) from hash(seed, i);   mask_i = u_i >= p ? 1/(1-p) : 0
// A counter-based generator: element i's random number depends only on (seed, i), so the mask
// needs no generator state on the GPU, every thread works independently, and a fixed seed
// gives the same mask on every run and any grid size. The hash is SplitMix64's finalizer
// (Steele et al. 2014) applied to seed + (i+1) * golden-ratio constant; its top 24 bits give a
// float in [0,1) with the full float resolution of that range (as PyTorch draws its floats).
// The CPU path draws from a Mersenne Twister instead: masks differ across devices, which is
// fine (only the statistics are specified), and the tests check those statistics.
#include "layers/dropout.h"
#include "tensor/cuda_launch.cuh"

namespace graft::cuda {
namespace {

__device__ inline uint64_t splitmix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

__global__ void dropout_mask_kernel(float* mask, int64_t n, float p, float keep_scale, uint64_t seed) {
  CUDA_KERNEL_LOOP(i, n) {
    const uint64_t h = splitmix64(seed + (static_cast<uint64_t>(i) + 1) * 0x9e3779b97f4a7c15ull);
    const float u = static_cast<float>(h >> 40) * (1.0f / 16777216.0f);  // 24 bits -> [0, 1)
    mask[i] = u >= p ? keep_scale : 0.0f;
  }
}

// One draw from the CPU generator seeds the whole mask.
void dropout_mask_cuda(Tensor& mask, float p, Generator& gen) {
  const uint64_t seed = gen.next();
  const int64_t n = mask.numel();
  if (n == 0) return;
  const float keep_scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;  // p = 1: every element is dropped
  dropout_mask_kernel<<<grid_for(n), kThreads, 0, stream()>>>(mask.data(), n, p, keep_scale, seed);
  CUDA_CHECK_LAUNCH("dropout_mask_kernel");
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::dropout_mask, CUDA, "cuda", dropout_mask_cuda);

}  // namespace graft::cuda
