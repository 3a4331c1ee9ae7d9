// src/layers/pool2d_cpu.cpp — max and average pooling on the CPU (see pool2d.h for the math).
//
// Every (n,c) plane is pooled independently, so the loops run in parallel over N*C planes.
// Max pooling remembers the flat index h*W+w of each window's winner (the first maximum on
// ties, and NaN wins, exactly as PyTorch's CPU kernel) so the backward pass is a scatter.
// Variants of max_pool2d_forward: "reference" (the argmax loop), "separable" (rank 1), which
// takes the max in two passes when no backward will run (inference, a frozen backbone), and
// "interior" (rank 2): with a backward, the argmax loop without clipping inside the image
// (unrolled for 3x3 and 2x2 windows); without one, the separable variant.
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
struct Planes {
  int64_t NC, H, W, P, Q;
};
Planes planes(const Tensor& x, const Tensor& y) {
  return {x.size(0) * x.size(1), x.size(2), x.size(3), y.size(2), y.size(3)};
}

// ---- max pooling --------------------------------------------------------------------------

// x: [N,C,H,W] -> y: [N,C,P,Q], and (for the backward) the argmax of every window.
Tensor max_pool2d_forward_reference(const Tensor& x, Tensor& y, const Pool2dParams& p, bool for_backward) {
  // Plain variables, not a structured binding: clang before 16 (the fuzz build's clang 14,
  // tests/run_fuzz.sh) cannot use structured bindings inside OpenMP regions or lambdas.
  const Planes s_ = planes(x, y);
  [[maybe_unused]] const int64_t NC = s_.NC, H = s_.H, W = s_.W, P = s_.P, Q = s_.Q;
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
  const Planes s_ = planes(x, y);
  [[maybe_unused]] const int64_t NC = s_.NC, H = s_.H, W = s_.W, P = s_.P, Q = s_.Q;
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

// The "interior" variant (rank 2): the reference's argmax loop, without its per-window cost
// where it can go. For one output row whose window rows lie inside the image, the outputs whose
// window columns do too (ow in [q0, q1)) read a fixed KH x KW block with no clipping, four
// outputs at a time in SSE lanes (x86-64's baseline; elsewhere a scalar loop); ResNet's stem
// (3x3 stride 2 pad 1) and VGG (2x2 stride 2) have compile-time sizes (unrolled). The edges,
// and rows that touch the padding, take the reference's window(). Each window is scanned in the
// reference's order (rows, then columns; strictly greater; every NaN replaces the best), so
// values and argmax indices are the reference's bit for bit (ties: the first maximum; NaN: the
// last NaN; all -inf: the window's first element).
// Without a backward it is the separable variant (no argmax to keep). Measured: ResNet18's
// training step at 8x224, 2 threads (perf, self time): max_pool2d forward 2.3% of the step with
// the reference, 0.6% with this.
// x: [N,C,H,W] -> y: [N,C,P,Q], argmax: [N,C,P,Q] (flat h*W+w in the plane)

// One window, rows [h0,h1) x columns [w0,w1) of a plane of width W: the reference's scan.
inline void window_argmax(const float* in, int64_t W, int64_t h0, int64_t h1, int64_t w0, int64_t w1, float* y,
                          int64_t* idx) {
  float best = -std::numeric_limits<float>::infinity();
  int64_t best_i = h0 * W + w0;
  for (int64_t h = h0; h < h1; ++h)
    for (int64_t w = w0; w < w1; ++w) {
      const float v = in[h * W + w];
      const bool take = v > best || std::isnan(v);
      best = take ? v : best;
      best_i = take ? h * W + w : best_i;
    }
  *y = best;
  *idx = best_i;
}

// Outputs [q0, q1) of one row, every window inside the image (rows [h0, h0+KH), columns
// [ow*SW - pad_w, + KW)); a size of 0: that size from p (any window).
template <int64_t KH, int64_t KW, int64_t SW>
void interior_row(const float* in, int64_t W, int64_t h0, int64_t q0, int64_t q1, const Pool2dParams& p, float* y,
                  int64_t* idx) {
  const int64_t kh = KH ? KH : p.kernel_h, kw = KW ? KW : p.kernel_w, sw = SW ? SW : p.stride_w;
  int64_t ow = q0;
#if defined(__SSE2__)
  // Four outputs at once, one SSE lane each, every lane the scalar scan below: take v when
  // v > best or v is NaN (cmpunord(v, v)), by masks instead of branches (on random data the
  // branches mispredicted: the first, scalar version of this loop was no faster than the
  // reference). The index is the window offset r*W + c, in int32 lanes.
  for (; ow + 4 <= q1; ow += 4) {
    const int64_t w0 = ow * sw - p.pad_w;
    // stride 2 loads 8 columns from each window column: stay inside the row (and the tensor)
    if (sw == 2 && w0 + 7 + kw - 1 >= W) break;
    const float* win = in + h0 * W + w0;
    __m128 best = _mm_set1_ps(-std::numeric_limits<float>::infinity());
    __m128i best_i = _mm_setzero_si128();
#pragma GCC unroll 3
    for (int64_t r = 0; r < kh; ++r)
#pragma GCC unroll 3
      for (int64_t c = 0; c < kw; ++c) {
        const float* src = win + r * W + c;  // column c of the window of lane 0
        __m128 v;
        if (sw == 1) v = _mm_loadu_ps(src);
        else if (sw == 2) v = _mm_shuffle_ps(_mm_loadu_ps(src), _mm_loadu_ps(src + 4), _MM_SHUFFLE(2, 0, 2, 0));
        else v = _mm_setr_ps(src[0], src[sw], src[2 * sw], src[3 * sw]);
        const __m128 take = _mm_or_ps(_mm_cmpgt_ps(v, best), _mm_cmpunord_ps(v, v));
        best = _mm_or_ps(_mm_and_ps(take, v), _mm_andnot_ps(take, best));
        const __m128i t = _mm_castps_si128(take), off = _mm_set1_epi32(static_cast<int32_t>(r * W + c));
        best_i = _mm_or_si128(_mm_and_si128(t, off), _mm_andnot_si128(t, best_i));
      }
    _mm_storeu_ps(y + ow, best);
    alignas(16) int32_t off[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(off), best_i);
    for (int64_t l = 0; l < 4; ++l) idx[ow + l] = h0 * W + w0 + l * sw + off[l];
  }
#endif
  for (; ow < q1; ++ow) {
    const int64_t w0 = ow * sw - p.pad_w;
    const float* win = in + h0 * W + w0;
    float best = -std::numeric_limits<float>::infinity();
    int64_t best_i = 0;  // offset from the window's first element
    for (int64_t r = 0; r < kh; ++r)
      for (int64_t c = 0; c < kw; ++c) {
        const float v = win[r * W + c];
        if (v > best || std::isnan(v)) {
          best = v;
          best_i = r * W + c;
        }
      }
    y[ow] = best;
    idx[ow] = h0 * W + w0 + best_i;
  }
}

Tensor max_pool2d_forward_interior(const Tensor& x, Tensor& y, const Pool2dParams& p, bool for_backward) {
  if (!for_backward) return max_pool2d_forward_separable(x, y, p, false);
  const Planes s_ = planes(x, y);
  [[maybe_unused]] const int64_t NC = s_.NC, H = s_.H, W = s_.W, P = s_.P, Q = s_.Q;
  Tensor argmax = Tensor::empty(y.shape(), DType::Int64);
  const float* px = x.data();
  float* py = y.data();
  int64_t* pi = argmax.data_ptr<int64_t>();
  // Interior outputs: ow*sw - pw >= 0 and ow*sw - pw + kw <= W (the same for rows).
  const auto first_inside = [](int64_t pad, int64_t stride) { return (pad + stride - 1) / stride; };
  const auto end_inside = [](int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t out) {
    return in + pad - k < 0 ? int64_t{0} : std::min(out, (in + pad - k) / stride + 1);
  };
  const int64_t q0 = std::min(Q, first_inside(p.pad_w, p.stride_w));
  const int64_t q1 = std::max(q0, end_inside(W, p.kernel_w, p.pad_w, p.stride_w, Q));
  const int64_t p0 = std::min(P, first_inside(p.pad_h, p.stride_h));
  const int64_t p1 = std::max(p0, end_inside(H, p.kernel_h, p.pad_h, p.stride_h, P));
  const bool k3s2 = p.kernel_h == 3 && p.kernel_w == 3 && p.stride_w == 2;  // ResNet's stem
  const bool k2s2 = p.kernel_h == 2 && p.kernel_w == 2 && p.stride_w == 2;  // VGG
#pragma omp parallel for if (NC * P * Q > 8192)
  for (int64_t plane = 0; plane < NC; ++plane) {
    const float* in = px + plane * H * W;
    float* out = py + plane * P * Q;
    int64_t* idx = pi + plane * P * Q;
    for (int64_t oh = 0; oh < P; ++oh) {
      float* yrow = out + oh * Q;
      int64_t* irow = idx + oh * Q;
      const bool inside_rows = oh >= p0 && oh < p1;
      const int64_t a = inside_rows ? q0 : Q, b = inside_rows ? q1 : Q;  // [a, b): no clipping
      for (int64_t ow = 0; ow < Q; ++ow) {
        if (ow == a) ow = b;  // the interior is done below
        if (ow >= Q) break;
        const Window win = window(oh, ow, H, W, p);
        window_argmax(in, W, win.h0, win.h1, win.w0, win.w1, yrow + ow, irow + ow);
      }
      if (a < b) {
        const int64_t h0 = oh * p.stride_h - p.pad_h;
        if (k3s2) interior_row<3, 3, 2>(in, W, h0, a, b, p, yrow, irow);
        else if (k2s2) interior_row<2, 2, 2>(in, W, h0, a, b, p, yrow, irow);
        else interior_row<0, 0, 0>(in, W, h0, a, b, p, yrow, irow);
      }
    }
  }
  return argmax;
}

// gy: [N,C,P,Q] -> gx: [N,C,H,W]: each window's gradient goes to its winner.
void max_pool2d_backward_cpu(const Tensor&, const Tensor& argmax, const Tensor& gy, Tensor& gx, const Pool2dParams&) {
  const Planes s_ = planes(gx, gy);
  [[maybe_unused]] const int64_t NC = s_.NC, H = s_.H, W = s_.W, P = s_.P, Q = s_.Q;
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
  const Planes s_ = planes(x, y);
  [[maybe_unused]] const int64_t NC = s_.NC, H = s_.H, W = s_.W, P = s_.P, Q = s_.Q;
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
  const Planes s_ = planes(gx, gy);
  [[maybe_unused]] const int64_t NC = s_.NC, H = s_.H, W = s_.W, P = s_.P, Q = s_.Q;
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
GRAFT_REGISTER_KERNEL(kernels::max_pool2d_forward, CPU, "interior", max_pool2d_forward_interior, 2);
GRAFT_REGISTER_KERNEL(kernels::max_pool2d_backward, CPU, "reference", max_pool2d_backward_cpu);
GRAFT_REGISTER_KERNEL(kernels::avg_pool2d_forward, CPU, "reference", avg_pool2d_forward_cpu);
GRAFT_REGISTER_KERNEL(kernels::avg_pool2d_backward, CPU, "reference", avg_pool2d_backward_cpu);

}  // namespace graft
