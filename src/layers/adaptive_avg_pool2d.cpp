// src/layers/adaptive_avg_pool2d.cpp — adaptive average pooling on the CPU (see the header).
//
// The loops run in parallel over the N*C planes. Bins may overlap, so the backward pass
// accumulates with += into a zeroed gradient.
#include "layers/adaptive_avg_pool2d.h"

#include <stdexcept>

#include "autograd/engine.h"

namespace graft {

namespace {
int64_t bin_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }                 // floor
int64_t bin_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }  // ceil
}  // namespace

Tensor adaptive_avg_pool2d(const Tensor& x, int64_t OH, int64_t OW) {
  check_dim("adaptive_avg_pool2d", "input", x, 4);
  if (OH < 1 || OW < 1)
    throw std::invalid_argument("adaptive_avg_pool2d: output size must be at least 1x1, got " +
                                std::to_string(OH) + "x" + std::to_string(OW));
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  if (H < 1 || W < 1)
    throw std::invalid_argument("adaptive_avg_pool2d: input " + shape_str(x.shape()) +
                                " has an empty plane: nothing to average");
  const Device dev = x.device();
  Tensor y = Tensor::empty({N, C, OH, OW}, DType::Float32, dev);
  const bool global = OH == 1 && OW == 1;  // the fast path: the mean of each plane
  if (x.is_cuda()) {
    cuda::adaptive_avg_pool2d_forward(x, y);
  } else {
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

  const Shape x_shape = x.shape();
  return record(y, "adaptive_avg_pool2d", {x}, [x_shape, N, C, H, W, OH, OW, global, dev](const Tensor& gy) {
    Tensor gx = Tensor::empty(x_shape, DType::Float32, dev);
    if (dev == Device::CUDA) {
      cuda::adaptive_avg_pool2d_backward(gy, gx);
      return std::vector<Tensor>{gx};
    }
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
    return std::vector<Tensor>{gx};
  });
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(int64_t h, int64_t w) : Module("AdaptiveAvgPool2d"), out_h(h), out_w(w) {}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(int64_t out) : AdaptiveAvgPool2d(out, out) { square_int_ = true; }

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) { return adaptive_avg_pool2d(x, out_h, out_w); }

std::string AdaptiveAvgPool2d::extra_repr() const {
  if (square_int_) return "output_size=" + std::to_string(out_h);
  return "output_size=(" + std::to_string(out_h) + ", " + std::to_string(out_w) + ")";
}

}  // namespace graft
