// src/layers/adaptive_avg_pool2d_cpu.cpp — adaptive average pooling on the CPU (see the header).
//
// The loops run in parallel over the N*C planes. Bins may overlap, so the backward pass
// accumulates with += into a zeroed gradient. A 1x1 output (ResNet, DenseNet) is the mean of
// each plane.
#include "layers/adaptive_avg_pool2d.h"

namespace graft {
namespace {

int64_t bin_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }                 // floor
int64_t bin_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }  // ceil

// x: [N,C,H,W] -> y: [N,C,OH,OW]
void forward_cpu(const Tensor& x, Tensor& y) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), OH = y.size(2), OW = y.size(3);
  const bool global = OH == 1 && OW == 1;
  const float* px = x.data();
  float* py = y.data();
#pragma omp parallel for if (N * C * H * W > 32768)
  for (int64_t plane = 0; plane < N * C; ++plane) {
    const float* in = px + plane * H * W;
    if (global) {
      float s = 0.0f;
      for (int64_t i = 0; i < H * W; ++i) s += in[i];
      py[plane] = s / static_cast<float>(H * W);
      continue;
    }
    for (int64_t i = 0; i < OH; ++i) {
      const int64_t h0 = bin_start(i, H, OH), h1 = bin_end(i, H, OH);
      for (int64_t j = 0; j < OW; ++j) {
        const int64_t w0 = bin_start(j, W, OW), w1 = bin_end(j, W, OW);
        float s = 0.0f;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) s += in[h * W + w];
        py[(plane * OH + i) * OW + j] = s / static_cast<float>((h1 - h0) * (w1 - w0));
      }
    }
  }
}

// gy: [N,C,OH,OW] -> gx: [N,C,H,W]
void backward_cpu(const Tensor& gy, Tensor& gx) {
  const int64_t N = gx.size(0), C = gx.size(1), H = gx.size(2), W = gx.size(3), OH = gy.size(2), OW = gy.size(3);
  const bool global = OH == 1 && OW == 1;
  const float* pgy = gy.data();
  float* pgx = gx.data();
#pragma omp parallel for if (N * C * H * W > 32768)
  for (int64_t plane = 0; plane < N * C; ++plane) {
    float* out = pgx + plane * H * W;
    if (global) {
      const float g = pgy[plane] / static_cast<float>(H * W);
      for (int64_t i = 0; i < H * W; ++i) out[i] = g;
      continue;
    }
    for (int64_t i = 0; i < H * W; ++i) out[i] = 0.0f;
    for (int64_t i = 0; i < OH; ++i) {
      const int64_t h0 = bin_start(i, H, OH), h1 = bin_end(i, H, OH);
      for (int64_t j = 0; j < OW; ++j) {
        const int64_t w0 = bin_start(j, W, OW), w1 = bin_end(j, W, OW);
        const float g = pgy[(plane * OH + i) * OW + j] / static_cast<float>((h1 - h0) * (w1 - w0));
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) out[h * W + w] += g;
      }
    }
  }
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::adaptive_avg_pool2d_forward, CPU, kIsa, forward_cpu);
GRAFT_REGISTER_KERNEL(kernels::adaptive_avg_pool2d_backward, CPU, kIsa, backward_cpu);

}  // namespace graft
