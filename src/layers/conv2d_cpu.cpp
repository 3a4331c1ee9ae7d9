// src/layers/conv2d_cpu.cpp — the reference CPU convolution: im2col + GEMM, image by image.
//
// im2col unrolls one image x_n [C,H,W] into a column matrix cols [C*R*S, P*Q]: row (c,r,s)
// holds, for every output pixel (p,q), the input value that kernel tap (r,s) of channel c
// sees there. The convolution is then one matrix product:
//   forward          y_n [K,P*Q]   = w [K,C*R*S] * cols_n [C*R*S,P*Q]
//   backward input   dcols [C*R*S,P*Q] = w^T * dy_n, then col2im adds each entry back
//                    to the input pixel it was copied from (pixels seen by several taps sum)
//   backward weight  dw [K,C*R*S] += dy_n [K,P*Q] * cols_n^T
//
// Design note: images are processed one at a time with a single cols buffer of
// C*R*S*P*Q floats. im2col/col2im run OpenMP loops over rows/channels, and the GEMM, called
// outside any parallel region, is threaded by Eigen itself. A whole-batch cols matrix
// [C*R*S, N*P*Q] would give one larger GEMM but costs N times the memory (3.7 GB for VGG's
// second 224x224 conv at batch 32) and a [K,N,PQ] -> [N,K,PQ] transpose. A 1x1 convolution
// with stride 1 and no padding skips im2col: the image itself is the column matrix.
//
//
// The fast path that splits the batch over threads is conv2d_cpu_batched.cpp, checked against
// these loops in tests/test_perf.cpp. With graft's own GEMM it never writes cols: the GEMM packs
// its panels from x through image_column_index's tables below (tensor/gemm_image.h).
#include <algorithm>

#include "layers/conv2d_cpu.h"
#include "tensor/gemm.h"

namespace graft::conv2d_cpu {

ConvGeometry geometry(const Shape& x, const Shape& w, const Conv2dParams& p) {
  const Shape y = conv2d_output_shape(x, w, p);
  return ConvGeometry{x[0], x[1], x[2], x[3], w[0], w[2], w[3], y[2], y[3], p};
}

namespace {

// The output columns ow whose input column iw = ow * stride_w - pad_w + s * dil_w (kernel
// column s) lies inside [0, W): [lo, hi), so the loops below need no per-pixel bounds check.
std::pair<int64_t, int64_t> valid_columns(const ConvGeometry& g, int64_t s) {
  const int64_t sw = g.p.stride_w, off = s * g.p.dil_w - g.p.pad_w;  // iw = ow * sw + off
  const int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;              // first ow with iw >= 0
  const int64_t last = g.W - 1 - off;                                   // iw <= W-1 <=> ow * sw <= last
  const int64_t hi = last < 0 ? 0 : std::min(g.Q, last / sw + 1);
  return {std::min(lo, g.Q), std::max(hi, std::min(lo, g.Q))};
}

}  // namespace

// im2col and col2im: see conv2d_cpu.h.
void im2col(const float* x, float* cols, const ConvGeometry& g, int64_t ld) {
  const Conv2dParams& p = g.p;
#pragma omp parallel for if (g.rows() * g.cols() > 32768)
  for (int64_t row = 0; row < g.rows(); ++row) {
    const int64_t c = row / (g.R * g.S), r = (row / g.S) % g.R, s = row % g.S;
    float* out = cols + row * ld;
    for (int64_t oh = 0; oh < g.P; ++oh) {
      const int64_t ih = oh * p.stride_h - p.pad_h + r * p.dil_h;
      float* out_row = out + oh * g.Q;
      if (ih < 0 || ih >= g.H) {
        for (int64_t ow = 0; ow < g.Q; ++ow) out_row[ow] = 0.0f;
        continue;
      }
      const float* in_row = x + (c * g.H + ih) * g.W;
      const auto [lo, hi] = valid_columns(g, s);  // ow in [lo, hi) reads inside the row
      const int64_t off = s * p.dil_w - p.pad_w;  // iw = ow * stride_w + off
      for (int64_t ow = 0; ow < lo; ++ow) out_row[ow] = 0.0f;
      if (p.stride_w == 1) std::copy(in_row + lo + off, in_row + hi + off, out_row + lo);
      else for (int64_t ow = lo; ow < hi; ++ow) out_row[ow] = in_row[ow * p.stride_w + off];
      for (int64_t ow = hi; ow < g.Q; ++ow) out_row[ow] = 0.0f;
    }
  }
}

// col2im runs parallel over channels: the rows of
// channel c only ever touch channel c, so threads never write the same pixel.
void col2im(const float* cols, float* x, const ConvGeometry& g, int64_t ld) {
  const Conv2dParams& p = g.p;
#pragma omp parallel for if (g.rows() * g.cols() > 32768)
  for (int64_t c = 0; c < g.C; ++c) {
    float* img = x + c * g.H * g.W;
    for (int64_t i = 0; i < g.H * g.W; ++i) img[i] = 0.0f;
    for (int64_t r = 0; r < g.R; ++r)
      for (int64_t s = 0; s < g.S; ++s) {
        const float* in = cols + ((c * g.R + r) * g.S + s) * ld;
        for (int64_t oh = 0; oh < g.P; ++oh) {
          const int64_t ih = oh * p.stride_h - p.pad_h + r * p.dil_h;
          if (ih < 0 || ih >= g.H) continue;
          float* img_row = img + ih * g.W;
          const float* in_row = in + oh * g.Q;
          const auto [lo, hi] = valid_columns(g, s);
          const int64_t off = s * p.dil_w - p.pad_w;
          for (int64_t ow = lo; ow < hi; ++ow) img_row[ow * p.stride_w + off] += in_row[ow];
        }
      }
  }
}

// The same mapping as im2col's, as tables: cols[t][u] = x[tap_offset[t] + pixel_offset[u]]
// inside the image (gemm_image.h). The padding entries (to a multiple of 32: a panel's NR
// lanes) are zeros, and never read as data: the kernels mask lanes past the matrix.
bool image_columns_fit(const ConvGeometry& g, int64_t G) {
  return G * g.C * g.H * g.W < (int64_t{1} << 31) && g.H < (int64_t{1} << 30) && g.W < (int64_t{1} << 30);
}

ImageColumnIndex image_column_index(const ConvGeometry& g, int64_t G) {
  const Conv2dParams& p = g.p;
  const auto padded = [](int64_t n) { return static_cast<size_t>((n + 31) / 32 * 32); };
  ImageColumnIndex ix;
  ix.H = static_cast<int32_t>(g.H);
  ix.W = static_cast<int32_t>(g.W);
  ix.taps = g.rows();
  ix.pixels_per_image = g.cols();
  for (auto* v : {&ix.tap_offset, &ix.tap_h, &ix.tap_w}) v->assign(padded(g.rows()), 0);
  for (auto* v : {&ix.pixel_offset, &ix.pixel_h, &ix.pixel_w}) v->assign(padded(G * g.cols()), 0);
  for (int64_t c = 0, t = 0; c < g.C; ++c)  // tap t = (c, r, s)
    for (int64_t r = 0; r < g.R; ++r)
      for (int64_t s = 0; s < g.S; ++s, ++t) {
        ix.tap_h[t] = static_cast<int32_t>(r * p.dil_h);
        ix.tap_w[t] = static_cast<int32_t>(s * p.dil_w);
        ix.tap_offset[t] = static_cast<int32_t>(c * g.H * g.W + ix.tap_h[t] * g.W + ix.tap_w[t]);
      }
  for (int64_t i = 0, u = 0; i < G; ++i)  // pixel u = (i, oh, ow)
    for (int64_t oh = 0; oh < g.P; ++oh)
      for (int64_t ow = 0; ow < g.Q; ++ow, ++u) {
        ix.pixel_h[u] = static_cast<int32_t>(oh * p.stride_h - p.pad_h);
        ix.pixel_w[u] = static_cast<int32_t>(ow * p.stride_w - p.pad_w);
        ix.pixel_offset[u] = static_cast<int32_t>(i * g.C * g.H * g.W + ix.pixel_h[u] * g.W + ix.pixel_w[u]);
      }
  return ix;
}

ImageColumns ImageColumnIndex::of(const float* x_group, int64_t gn) const {
  return ImageColumns{x_group,
                      H,
                      W,
                      taps,
                      gn * pixels_per_image,
                      {tap_offset.data(), tap_h.data(), tap_w.data()},
                      {pixel_offset.data(), pixel_h.data(), pixel_w.data()}};
}

namespace {
// The column matrix [C*R*S, P*Q] of one image (none for pointwise convolutions). A Tensor, not
// a std::vector: uninitialized (im2col writes every entry) and 64-byte aligned for Eigen.
Tensor column_buffer(const ConvGeometry& g) {
  return g.pointwise() ? Tensor() : Tensor::empty({g.rows(), g.cols()});
}

// Image n's column matrix [CRS, PQ]: x_n itself when pointwise, else im2col(x_n) in `buffer`.
const float* columns(const Tensor& x, int64_t n, const ConvGeometry& g, Tensor& buffer) {
  const float* xn = x.data() + n * g.C * g.H * g.W;
  if (g.pointwise()) return xn;
  im2col(xn, buffer.data(), g, g.cols());
  return buffer.data();
}

}  // namespace

// x: [N,C,H,W], w: [K,C,R,S] -> y: [N,K,P,Q]
void forward_reference(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p) {
  const ConvGeometry g = geometry(x.shape(), w.shape(), p);
  Tensor buffer = column_buffer(g);
  for (int64_t n = 0; n < g.N; ++n) {
    const float* cols = columns(x, n, g, buffer);
    // y_n [K,PQ] = w [K,CRS] * cols [CRS,PQ]
    gemm(Device::CPU, false, false, g.K, g.cols(), g.rows(), 1.0f, w.data(), cols, 0.0f,
         y.data() + n * g.K * g.cols());
  }
}

// gy: [N,K,P,Q], w: [K,C,R,S] -> gx: [N,C,H,W]
void backward_input_reference(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p) {
  const ConvGeometry g = geometry(gx.shape(), w.shape(), p);
  Tensor buffer = column_buffer(g);
  for (int64_t n = 0; n < g.N; ++n) {
    float* gxn = gx.data() + n * g.C * g.H * g.W;
    float* dcols = g.pointwise() ? gxn : buffer.data();
    // dcols [CRS,PQ] = w^T [CRS,K] * dy_n [K,PQ]
    gemm(Device::CPU, true, false, g.rows(), g.cols(), g.K, 1.0f, w.data(), gy.data() + n * g.K * g.cols(), 0.0f,
         dcols);
    if (!g.pointwise()) col2im(dcols, gxn, g, g.cols());
  }
}

// gy: [N,K,P,Q], x: [N,C,H,W] -> gw: [K,C,R,S]
void backward_weight_reference(const Tensor& gy, const Tensor& x, Tensor& gw, const Conv2dParams& p) {
  const ConvGeometry g = geometry(x.shape(), gw.shape(), p);
  if (g.N == 0) gw.zero_();
  Tensor buffer = column_buffer(g);
  for (int64_t n = 0; n < g.N; ++n) {
    const float* cols = columns(x, n, g, buffer);
    // dw [K,CRS] (+)= dy_n [K,PQ] * cols^T [PQ,CRS]; the first image overwrites, later ones add
    gemm(Device::CPU, false, true, g.K, g.rows(), g.cols(), 1.0f, gy.data() + n * g.K * g.cols(), cols,
         n == 0 ? 0.0f : 1.0f, gw.data());
  }
}

GRAFT_REGISTER_KERNEL(kernels::conv2d_forward, CPU, "reference", forward_reference);
GRAFT_REGISTER_KERNEL(kernels::conv2d_backward_input, CPU, "reference", backward_input_reference);
GRAFT_REGISTER_KERNEL(kernels::conv2d_backward_weight, CPU, "reference", backward_weight_reference);

}  // namespace graft::conv2d_cpu
