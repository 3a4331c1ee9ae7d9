// src/layers/adaptive_avg_pool2d.cu — adaptive average pooling on the GPU (adaptive_avg_pool2d.h).
//
//   bin i of an axis of length H split into OH bins: rows [floor(i*H/OH), ceil((i+1)*H/OH))
//   forward:  y[n,c,i,j] = mean of x over bin (i,j)
//   backward: gx[n,c,h,w] = sum over the bins (i,j) that contain (h,w) of gy[n,c,i,j] / area
// One thread per output (forward) or per input pixel (backward, a gather: no atomics), summing
// in the CPU loops' order, so both devices give the same floats. Bins overlap when H is not a
// multiple of OH, which is why the backward gathers over a small range of bins.
#include "layers/adaptive_avg_pool2d.h"
#include "tensor/cuda_launch.cuh"

namespace graft::cuda {
namespace {

__device__ inline int64_t bin_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
__device__ inline int64_t bin_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

__global__ void adaptive_avg_pool2d_forward_kernel(const float* x, float* y, int64_t total, int64_t H, int64_t W,
                                                   int64_t OH, int64_t OW) {
  CUDA_KERNEL_LOOP(o, total) {
    const int64_t j = o % OW, i = (o / OW) % OH, plane = o / (OH * OW);
    const float* in = x + plane * H * W;
    const int64_t h0 = bin_start(i, H, OH), h1 = bin_end(i, H, OH);
    const int64_t w0 = bin_start(j, W, OW), w1 = bin_end(j, W, OW);
    float s = 0.0f;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) s += in[h * W + w];
    y[o] = s / static_cast<float>((h1 - h0) * (w1 - w0));
  }
}

__global__ void adaptive_avg_pool2d_backward_kernel(const float* gy, float* gx, int64_t total, int64_t H, int64_t W,
                                                    int64_t OH, int64_t OW) {
  CUDA_KERNEL_LOOP(idx, total) {
    const int64_t w = idx % W, h = (idx / W) % H, plane = idx / (H * W);
    // Bins containing row h: floor(h*OH/H) <= i < ceil((h+1)*OH/H); the test below is exact.
    const int64_t i0 = (h * OH) / H, i1 = min(((h + 1) * OH + H - 1) / H, OH);
    const int64_t j0 = (w * OW) / W, j1 = min(((w + 1) * OW + W - 1) / W, OW);
    const float* g = gy + plane * OH * OW;
    float s = 0.0f;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t h0 = bin_start(i, H, OH), h1 = bin_end(i, H, OH);
      if (h < h0 || h >= h1) continue;
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t w0 = bin_start(j, W, OW), w1 = bin_end(j, W, OW);
        if (w < w0 || w >= w1) continue;
        s += g[i * OW + j] / static_cast<float>((h1 - h0) * (w1 - w0));
      }
    }
    gx[idx] = s;
  }
}

void forward_cuda(const Tensor& x, Tensor& y) {
  const int64_t total = y.numel();
  CUDA_LAUNCH_OVER(total, adaptive_avg_pool2d_forward_kernel, x.data(), y.data(), total, x.size(2), x.size(3),
                   y.size(2), y.size(3));
}

void backward_cuda(const Tensor& gy, Tensor& gx) {
  const int64_t total = gx.numel();
  CUDA_LAUNCH_OVER(total, adaptive_avg_pool2d_backward_kernel, gy.data(), gx.data(), total, gx.size(2), gx.size(3),
                   gy.size(2), gy.size(3));
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::adaptive_avg_pool2d_forward, CUDA, "cuda", forward_cuda);
GRAFT_REGISTER_KERNEL(kernels::adaptive_avg_pool2d_backward, CUDA, "cuda", backward_cuda);

}  // namespace graft::cuda
