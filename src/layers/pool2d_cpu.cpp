// src/layers/pool2d_cpu.cpp — max and average pooling on the CPU (see pool2d.h for the math).
//
// Every (n,c) plane is pooled independently, so the loops run in parallel over N*C planes.
// Max pooling remembers the flat index h*W+w of each window's winner (the first maximum on
// ties, and NaN wins, exactly as PyTorch's CPU kernel) so the backward pass is a scatter.
// Variants of max_pool2d_forward: "reference" (the argmax loop) and "separable" (rank 1), which
// takes the max in two passes when no backward will run (inference, a frozen backbone).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "layers/pool2d.h"

namespace graft {
namespace {

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

// Sizes read from x: [N,C,H,W] and y: [N,C,P,Q].
// Read into plain variables, not `const auto [N, C, ...] = planes(...)`: clang 14 (the TSan
// build, tests/run_tsan.sh) cannot use structured bindings inside an OpenMP region.
struct Planes {
  int64_t NC, H, W, P, Q;
};
Planes planes(const Tensor& x, const Tensor& y) {
  return {x.size(0) * x.size(1), x.size(2), x.size(3), y.size(2), y.size(3)};
}

// ---- max pooling --------------------------------------------------------------------------

// x: [N,C,H,W] -> y: [N,C,P,Q], and (for the backward) the argmax of every window.
Tensor max_pool2d_forward_reference(const Tensor& x, Tensor& y, const Pool2dParams& p, bool for_backward) {
  const Planes pl = planes(x, y);  // not a structured binding: see Planes
  const int64_t NC = pl.NC, H = pl.H, W = pl.W, P = pl.P, Q = pl.Q;
  Tensor argmax = Tensor::empty(y.shape(), DType::Int64);  // flat index h*W+w of each winner in its plane
  const float* px = x.data();
  float* py = y.data();
  int64_t* pi = argmax.data_ptr<int64_t>();
#pragma omp parallel for if (NC * P * Q > 8192)
  for (int64_t plane = 0; plane < NC; ++plane) {
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
  return for_backward ? argmax : Tensor();
}

// The "separable" variant when no gradient is wanted (inference, a frozen backbone): no argmax,
// and the window max taken in two passes, as a max is separable: first over the window's rows
// for every column (one vectorizable pass over whole rows), then over the window's columns.
// Same windows and NaN rule (a NaN anywhere in the window wins) as the reference, so the same
// values. x: [N,C,H,W] -> y: [N,C,P,Q]
inline float nan_max(float v, float best) { return (v > best || std::isnan(v)) ? v : best; }

Tensor max_pool2d_forward_separable(const Tensor& x, Tensor& y, const Pool2dParams& p, bool for_backward) {
  if (for_backward) return max_pool2d_forward_reference(x, y, p, true);
  const Planes pl = planes(x, y);  // not a structured binding: see Planes
  const int64_t NC = pl.NC, H = pl.H, W = pl.W, P = pl.P, Q = pl.Q;
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
  return Tensor();
}

// gy: [N,C,P,Q] -> gx: [N,C,H,W]: each window's gradient goes to its winner.
void max_pool2d_backward_cpu(const Tensor&, const Tensor& argmax, const Tensor& gy, Tensor& gx, const Pool2dParams&) {
  const Planes pl = planes(gx, gy);  // not a structured binding: see Planes
  const int64_t NC = pl.NC, H = pl.H, W = pl.W, P = pl.P, Q = pl.Q;
  const float* pgy = gy.data();
  const int64_t* pi = argmax.data_ptr<int64_t>();
  float* pgx = gx.data();
#pragma omp parallel for if (NC * H * W > 8192)
  for (int64_t plane = 0; plane < NC; ++plane) {
    float* out = pgx + plane * H * W;
    for (int64_t i = 0; i < H * W; ++i) out[i] = 0.0f;
    for (int64_t o = plane * P * Q; o < (plane + 1) * P * Q; ++o) out[pi[o]] += pgy[o];  // windows overlap: +=
  }
}

// ---- average pooling ----------------------------------------------------------------------

void avg_pool2d_forward_cpu(const Tensor& x, Tensor& y, const Pool2dParams& p) {
  const Planes pl = planes(x, y);  // not a structured binding: see Planes
  const int64_t NC = pl.NC, H = pl.H, W = pl.W, P = pl.P, Q = pl.Q;
  const float* px = x.data();
  float* py = y.data();
#pragma omp parallel for if (NC * P * Q > 8192)
  for (int64_t plane = 0; plane < NC; ++plane) {
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

void avg_pool2d_backward_cpu(const Tensor& gy, Tensor& gx, const Pool2dParams& p) {
  const Planes pl = planes(gx, gy);  // not a structured binding: see Planes
  const int64_t NC = pl.NC, H = pl.H, W = pl.W, P = pl.P, Q = pl.Q;
  const float* pgy = gy.data();
  float* pgx = gx.data();
#pragma omp parallel for if (NC * H * W > 8192)
  for (int64_t plane = 0; plane < NC; ++plane) {
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
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::max_pool2d_forward, CPU, "reference", max_pool2d_forward_reference);
GRAFT_REGISTER_KERNEL(kernels::max_pool2d_forward, CPU, "separable", max_pool2d_forward_separable, 1);
GRAFT_REGISTER_KERNEL(kernels::max_pool2d_backward, CPU, "reference", max_pool2d_backward_cpu);
GRAFT_REGISTER_KERNEL(kernels::avg_pool2d_forward, CPU, "reference", avg_pool2d_forward_cpu);
GRAFT_REGISTER_KERNEL(kernels::avg_pool2d_backward, CPU, "reference", avg_pool2d_backward_cpu);

}  // namespace graft
