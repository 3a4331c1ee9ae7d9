// src/layers/pool2d.cpp — max_pool2d and avg_pool2d on the CPU (see pool2d.h for the math).
//
// Every (n,c) plane is pooled independently, so the loops run in parallel over N*C planes.
// Max pooling remembers, on the CPU, the flat index h*W+w of each window's winner (the first
// maximum on ties and NaN wins, exactly as PyTorch's CPU kernel) so the backward pass is a
// scatter. The CUDA path (cuDNN) recomputes the winners from x and y instead.
#include "layers/pool2d.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "autograd/engine.h"
#include "tensor/fast_paths.h"

namespace graft {

namespace {

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

std::string pool_params_str(const Pool2dParams& p) {
  return "kernel (" + std::to_string(p.kernel_h) + ", " + std::to_string(p.kernel_w) + "), stride (" +
         std::to_string(p.stride_h) + ", " + std::to_string(p.stride_w) + "), padding (" + std::to_string(p.pad_h) +
         ", " + std::to_string(p.pad_w) + ")";
}

// Checks x and p; returns the output shape [N,C,P,Q].
Shape pool_output_shape(const char* op, const Tensor& x, const Pool2dParams& p) {
  check_dim(op, "input", x, 4);
  if (p.kernel_h < 1 || p.kernel_w < 1 || p.stride_h < 1 || p.stride_w < 1 || p.pad_h < 0 || p.pad_w < 0)
    throw std::invalid_argument(std::string(op) + ": kernel and stride must be >= 1 and padding >= 0, got " +
                                pool_params_str(p));
  if (2 * p.pad_h > p.kernel_h || 2 * p.pad_w > p.kernel_w)  // as PyTorch
    throw std::invalid_argument(std::string(op) + ": padding must be at most half the kernel size, got " +
                                pool_params_str(p));
  const int64_t P = pool_output_size(x.size(2), p.kernel_h, p.stride_h, p.pad_h, 1, p.ceil_mode);
  const int64_t Q = pool_output_size(x.size(3), p.kernel_w, p.stride_w, p.pad_w, 1, p.ceil_mode);
  if (P < 1 || Q < 1)
    throw std::invalid_argument(std::string(op) + ": the window is larger than the padded input (input shape " +
                                shape_str(x.shape()) + ", " + pool_params_str(p) + ", output would be " +
                                std::to_string(P) + "x" + std::to_string(Q) +
                                "): use a larger input or a smaller kernel");
  return {x.size(0), x.size(1), P, Q};
}

// The part of window (oh, ow) that lies inside the image, and the divisor of average pooling.
struct Window {
  int64_t h0, h1, w0, w1;  // rows [h0,h1), columns [w0,w1)
  int64_t count;
};

Window window(int64_t oh, int64_t ow, int64_t H, int64_t W, const Pool2dParams& p) {
  int64_t h0 = oh * p.stride_h - p.pad_h, w0 = ow * p.stride_w - p.pad_w;
  // A window may hang past the padded input in ceil_mode: clip to it first (PyTorch's pool_size).
  int64_t h1 = std::min(h0 + p.kernel_h, H + p.pad_h), w1 = std::min(w0 + p.kernel_w, W + p.pad_w);
  const int64_t padded_area = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0), w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, H), w1 = std::min(w1, W);
  return {h0, h1, w0, w1, p.count_include_pad ? padded_area : (h1 - h0) * (w1 - w0)};
}

}  // namespace

int64_t pool_output_size(int64_t in, int64_t k, int64_t s, int64_t pad, int64_t dil, bool ceil_mode) {
  int64_t out = floor_div(in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && (out - 1) * s >= in + pad) --out;  // the last window must start inside input or left pad
  return out;
}

// ---- max pooling --------------------------------------------------------------------------

// Fast path (fast_paths.h) when no gradient is wanted (inference, a frozen backbone): no argmax,
// and the window max taken in two passes, as a max is separable: first over the window's rows
// for every column (one vectorizable pass over whole rows), then over the window's columns.
// Same windows and NaN rule (a NaN anywhere in the window wins) as the loop below, so the same
// values. x: [N,C,H,W] -> y: [N,C,P,Q]
inline float nan_max(float v, float best) { return (v > best || std::isnan(v)) ? v : best; }

void max_pool2d_forward_no_argmax(const Tensor& x, Tensor& y, const Pool2dParams& p) {
  const int64_t NC = y.size(0) * y.size(1), P = y.size(2), Q = y.size(3), H = x.size(2), W = x.size(3);
  const float* px = x.data();
  float* py = y.data();
#pragma omp parallel if (NC * P * Q > 8192)
  {
    std::vector<float> row_max(static_cast<size_t>(W));  // max over the window's rows, per column
#pragma omp for
    for (int64_t plane = 0; plane < NC; ++plane) {
      const float* in = px + plane * H * W;
      float* out = py + plane * P * Q;
      for (int64_t oh = 0; oh < P; ++oh) {
        const Window rows = window(oh, 0, H, W, p);  // h0, h1 depend on oh only
        std::copy(in + rows.h0 * W, in + rows.h0 * W + W, row_max.begin());
        for (int64_t h = rows.h0 + 1; h < rows.h1; ++h)
          for (int64_t w = 0; w < W; ++w) row_max[w] = nan_max(in[h * W + w], row_max[w]);
        for (int64_t ow = 0; ow < Q; ++ow) {
          const Window cols = window(oh, ow, H, W, p);
          float best = -std::numeric_limits<float>::infinity();
          for (int64_t w = cols.w0; w < cols.w1; ++w) best = nan_max(row_max[w], best);
          out[oh * Q + ow] = best;
        }
      }
    }
  }
}

Tensor max_pool2d(const Tensor& x, const Pool2dParams& p) {
  const Shape ys = pool_output_shape("max_pool2d", x, p);
  const int64_t N = ys[0], C = ys[1], P = ys[2], Q = ys[3], H = x.size(2), W = x.size(3);
  const Device dev = x.device();
  Tensor y = Tensor::empty(ys, DType::Float32, dev);
  Tensor argmax;  // CPU only: [N,C,P,Q] flat index h*W+w of each window's winner in its plane
  if (x.is_cuda()) {
    cuda::max_pool2d_forward(x, y, p);
  } else if (fast_paths_enabled() && !(grad_enabled() && x.requires_grad())) {
    max_pool2d_forward_no_argmax(x, y, p);  // no backward will run: skip the argmax
  } else {
    argmax = Tensor::empty(ys, DType::Int64);
    const float* px = x.data();
    float* py = y.data();
    int64_t* pi = argmax.data_ptr<int64_t>();
#pragma omp parallel for if (N * C * P * Q > 8192)
    for (int64_t plane = 0; plane < N * C; ++plane) {
      const float* in = px + plane * H * W;
      for (int64_t oh = 0; oh < P; ++oh)
        for (int64_t ow = 0; ow < Q; ++ow) {
          const Window win = window(oh, ow, H, W, p);
          float best = -std::numeric_limits<float>::infinity();
          int64_t best_i = win.h0 * W + win.w0;
          for (int64_t h = win.h0; h < win.h1; ++h)
            for (int64_t w = win.w0; w < win.w1; ++w) {
              const float v = in[h * W + w];
              if (v > best || std::isnan(v)) {  // strictly greater: the first maximum wins ties
                best = v;
                best_i = h * W + w;
              }
            }
          const int64_t o = (plane * P + oh) * Q + ow;
          py[o] = best;
          pi[o] = best_i;
        }
    }
  }

  // y is captured detached: capturing y itself would make y own its own grad_fn (a cycle).
  Tensor y_saved = x.is_cuda() ? y.detach() : Tensor();
  return record(y, "max_pool2d", {x}, [x, y_saved, argmax, p, N, C, P, Q, H, W, dev](const Tensor& gy) {
    Tensor gx = Tensor::empty(x.shape(), DType::Float32, dev);
    if (dev == Device::CUDA) {
      cuda::max_pool2d_backward(x, y_saved, gy, gx, p);
      return std::vector<Tensor>{gx};
    }
    const float* pgy = gy.data();
    const int64_t* pi = argmax.data_ptr<int64_t>();
    float* pgx = gx.data();
#pragma omp parallel for if (N * C * H * W > 8192)
    for (int64_t plane = 0; plane < N * C; ++plane) {
      float* out = pgx + plane * H * W;
      for (int64_t i = 0; i < H * W; ++i) out[i] = 0.0f;
      for (int64_t o = plane * P * Q; o < (plane + 1) * P * Q; ++o) out[pi[o]] += pgy[o];  // windows overlap: +=
    }
    return std::vector<Tensor>{gx};
  });
}

// ---- average pooling ----------------------------------------------------------------------

Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p) {
  const Shape ys = pool_output_shape("avg_pool2d", x, p);
  const int64_t N = ys[0], C = ys[1], P = ys[2], Q = ys[3], H = x.size(2), W = x.size(3);
  const Device dev = x.device();
  Tensor y = Tensor::empty(ys, DType::Float32, dev);
  if (x.is_cuda()) {
    cuda::avg_pool2d_forward(x, y, p);
  } else {
    const float* px = x.data();
    float* py = y.data();
#pragma omp parallel for if (N * C * P * Q > 8192)
    for (int64_t plane = 0; plane < N * C; ++plane) {
      const float* in = px + plane * H * W;
      for (int64_t oh = 0; oh < P; ++oh)
        for (int64_t ow = 0; ow < Q; ++ow) {
          const Window win = window(oh, ow, H, W, p);
          float s = 0.0f;
          for (int64_t h = win.h0; h < win.h1; ++h)
            for (int64_t w = win.w0; w < win.w1; ++w) s += in[h * W + w];
          py[(plane * P + oh) * Q + ow] = s / static_cast<float>(win.count);
        }
    }
  }

  Tensor y_saved = x.is_cuda() ? y.detach() : Tensor();  // detached: see max_pool2d
  return record(y, "avg_pool2d", {x}, [x, y_saved, p, N, C, P, Q, H, W, dev](const Tensor& gy) {
    Tensor gx = Tensor::empty(x.shape(), DType::Float32, dev);
    if (dev == Device::CUDA) {
      cuda::avg_pool2d_backward(x, y_saved, gy, gx, p);
      return std::vector<Tensor>{gx};
    }
    const float* pgy = gy.data();
    float* pgx = gx.data();
#pragma omp parallel for if (N * C * H * W > 8192)
    for (int64_t plane = 0; plane < N * C; ++plane) {
      float* out = pgx + plane * H * W;
      for (int64_t i = 0; i < H * W; ++i) out[i] = 0.0f;
      for (int64_t oh = 0; oh < P; ++oh)
        for (int64_t ow = 0; ow < Q; ++ow) {
          const Window win = window(oh, ow, H, W, p);
          const float g = pgy[(plane * P + oh) * Q + ow] / static_cast<float>(win.count);
          for (int64_t h = win.h0; h < win.h1; ++h)
            for (int64_t w = win.w0; w < win.w1; ++w) out[h * W + w] += g;
        }
    }
    return std::vector<Tensor>{gx};
  });
}

// ---- modules --------------------------------------------------------------------------------

MaxPool2d::MaxPool2d(int64_t k, int64_t stride, int64_t padding, bool ceil_mode) : Module("MaxPool2d") {
  const int64_t s = stride < 0 ? k : stride;
  params = {k, k, s, s, padding, padding, ceil_mode, true};
}

Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, params); }

std::string MaxPool2d::extra_repr() const {
  return "kernel_size=" + std::to_string(params.kernel_h) + ", stride=" + std::to_string(params.stride_h) +
         ", padding=" + std::to_string(params.pad_h) +
         ", dilation=1, ceil_mode=" + (params.ceil_mode ? "True" : "False");
}

AvgPool2d::AvgPool2d(int64_t k, int64_t stride, int64_t padding, bool ceil_mode, bool count_include_pad)
    : Module("AvgPool2d") {
  const int64_t s = stride < 0 ? k : stride;
  params = {k, k, s, s, padding, padding, ceil_mode, count_include_pad};
}

Tensor AvgPool2d::forward(const Tensor& x) { return avg_pool2d(x, params); }

std::string AvgPool2d::extra_repr() const {
  return "kernel_size=" + std::to_string(params.kernel_h) + ", stride=" + std::to_string(params.stride_h) +
         ", padding=" + std::to_string(params.pad_h);
}

}  // namespace graft
