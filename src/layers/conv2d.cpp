// src/layers/conv2d.cpp — conv2d by im2col + GEMM on the CPU (see conv2d.h for the math).
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
// Fast path (fast_paths.h; the loops below stay as the reference): with N >= threads, the
// batch is split across threads instead — each thread takes whole images,
// with its own reusable column buffer (thread_workspace) and a single-threaded GEMM. One
// parallel region per call and no barrier inside: Eigen's threaded GEMM synchronizes its
// threads by spinning between blocks, which wastes most of the time on the small matrices of
// late layers (7x7 images) and when the cores are shared. In forward and backward-input, images
// are handed out dynamically, so a thread that the OS preempts (a busy machine) does not hold
// the others up (each output is computed by one thread: the order does not matter). The weight
// gradient is summed in a per-thread buffer over a fixed range of images, and the buffers are
// added in thread order at the end, so that results reproduce bit for bit.
#include "layers/conv2d.h"

#include <omp.h>

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <vector>

#include "autograd/engine.h"
#include "layers/bias.h"
#include "layers/init.h"
#include "tensor/fast_paths.h"
#include "tensor/gemm.h"

namespace graft {

namespace {

// Sizes of one convolution, read from x: [N,C,H,W] and w: [K,C,R,S].
struct ConvGeometry {
  int64_t N, C, H, W, K, R, S, P, Q;
  Conv2dParams p;
  int64_t rows() const { return C * R * S; }  // rows of the column matrix
  int64_t cols() const { return P * Q; }      // columns of the column matrix
  bool pointwise() const {  // x_n [C,H*W] already is the column matrix
    return R == 1 && S == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0;
  }
};

int64_t conv_output_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
  return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1;
}

ConvGeometry geometry(const Shape& x, const Shape& w, const Conv2dParams& p) {
  ConvGeometry g{x[0], x[1], x[2], x[3], w[0], w[2], w[3], 0, 0, p};
  g.P = conv_output_size(g.H, g.R, p.stride_h, p.pad_h, p.dil_h);
  g.Q = conv_output_size(g.W, g.S, p.stride_w, p.pad_w, p.dil_w);
  return g;
}

// The output columns ow whose input column iw = ow * stride_w - pad_w + s * dil_w (kernel
// column s) lies inside [0, W): [lo, hi), so the loops below need no per-pixel bounds check.
std::pair<int64_t, int64_t> valid_columns(const ConvGeometry& g, int64_t s) {
  const int64_t sw = g.p.stride_w, off = s * g.p.dil_w - g.p.pad_w;  // iw = ow * sw + off
  const int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;              // first ow with iw >= 0
  const int64_t last = g.W - 1 - off;                                   // iw <= W-1 <=> ow * sw <= last
  const int64_t hi = last < 0 ? 0 : std::min(g.Q, last / sw + 1);
  return {std::min(lo, g.Q), std::max(hi, std::min(lo, g.Q))};
}

// x: [C,H,W] (one image) -> cols: [C*R*S, P*Q]; zero where a tap falls in the padding.
// ld: the distance between rows of cols (P*Q, or more when several images share the matrix).
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

// cols: [C*R*S, P*Q] -> x: [C,H,W] (one image), x zeroed first, then x[pixel] += cols[...]
// for every entry that im2col copied from that pixel. Parallel over channels: the rows of
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

// The column matrix [C*R*S, P*Q] of one image (none for pointwise convolutions). A Tensor, not
// a std::vector: uninitialized (im2col writes every entry) and 64-byte aligned for Eigen.
Tensor column_buffer(const ConvGeometry& g) {
  return g.pointwise() ? Tensor() : Tensor::empty({g.rows(), g.cols()});
}

// x: [N,C,H,W], w: [K,C,R,S] -> y: [N,K,P,Q]
void conv2d_forward_reference(const Tensor& x, const Tensor& w, Tensor& y, const ConvGeometry& g) {
  Tensor buffer = column_buffer(g);
  for (int64_t n = 0; n < g.N; ++n) {
    const float* xn = x.data() + n * g.C * g.H * g.W;
    const float* cols = xn;
    if (!g.pointwise()) {
      im2col(xn, buffer.data(), g, g.cols());
      cols = buffer.data();
    }
    // y_n [K,PQ] = w [K,CRS] * cols [CRS,PQ]
    gemm(Device::CPU, false, false, g.K, g.cols(), g.rows(), 1.0f, w.data(), cols, 0.0f,
         y.data() + n * g.K * g.cols());
  }
}

// gy: [N,K,P,Q], w: [K,C,R,S] -> gx: [N,C,H,W]
void conv2d_backward_input_reference(const Tensor& gy, const Tensor& w, Tensor& gx, const ConvGeometry& g) {
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
void conv2d_backward_weight_reference(const Tensor& gy, const Tensor& x, Tensor& gw, const ConvGeometry& g) {
  if (g.N == 0) gw.zero_();
  Tensor buffer = column_buffer(g);
  for (int64_t n = 0; n < g.N; ++n) {
    const float* xn = x.data() + n * g.C * g.H * g.W;
    const float* cols = xn;
    if (!g.pointwise()) {
      im2col(xn, buffer.data(), g, g.cols());
      cols = buffer.data();
    }
    // dw [K,CRS] (+)= dy_n [K,PQ] * cols^T [PQ,CRS]; the first image overwrites, later ones add
    gemm(Device::CPU, false, true, g.K, g.rows(), g.cols(), 1.0f, gy.data() + n * g.K * g.cols(), cols,
         n == 0 ? 0.0f : 1.0f, gw.data());
  }
}

// ---- fast path: the batch split across threads (see the top of the file) ------------------
//
// Images are also grouped: G images share one column matrix [C*R*S, G*P*Q] (image i in
// columns [i*PQ, (i+1)*PQ)), so that the GEMM is wide enough to run at full speed — a 2x2 or
// 7x7 image alone gives a GEMM of 4 or 49 columns, where packing the weights costs as much as
// the product. dy and y are gathered to / scattered from the [K, G*P*Q] layout.

// With one thread the "split" is the single group loop: small images are still grouped.
bool split_batch(const ConvGeometry& g) {
  return fast_paths_enabled() && !omp_in_parallel() && g.N >= omp_get_max_threads();
}

// Images per group: enough for ~kGroupColumns GEMM columns, at most the thread's share of the
// batch, and a column matrix of at most 4M floats (16 MB). A 2x2 or 7x7 image alone gives a
// GEMM too narrow to run at speed, and the weights are packed once per GEMM (re-reading a late
// layer's 9 MB of weights for every image cost ~30%); much wider GEMMs lose the caches instead.
// (Measured on ResNet shapes: 256 columns beat 1 by up to 1.7x on 4x4 images; 4096 lost up to
// 2x on 28x28 ones.)
constexpr int64_t kGroupColumns = 256;
int64_t group_size(const ConvGeometry& g) {
  const int64_t threads = omp_get_max_threads();
  const int64_t per_thread = (g.N + threads - 1) / threads;
  const int64_t wanted = (kGroupColumns + g.cols() - 1) / g.cols();
  const int64_t by_memory = (int64_t{4} << 20) / std::max<int64_t>(1, g.rows() * g.cols());
  return std::max<int64_t>(1, std::min({wanted, per_thread, by_memory}));
}

// [K, gn*PQ] (grouped) <-> gn images of [K, PQ] starting at image n0 of t: [N, K, P, Q].
void gather_images(const float* t, int64_t n0, int64_t gn, int64_t K, int64_t PQ, float* grouped) {
  for (int64_t i = 0; i < gn; ++i)
    for (int64_t k = 0; k < K; ++k)
      std::copy_n(t + ((n0 + i) * K + k) * PQ, PQ, grouped + k * gn * PQ + i * PQ);
}
void scatter_images(const float* grouped, int64_t n0, int64_t gn, int64_t K, int64_t PQ, float* t) {
  for (int64_t i = 0; i < gn; ++i)
    for (int64_t k = 0; k < K; ++k)
      std::copy_n(grouped + k * gn * PQ + i * PQ, PQ, t + ((n0 + i) * K + k) * PQ);
}

// x: [N,C,H,W], w: [K,C,R,S] -> y: [N,K,P,Q]
void conv2d_forward_batched(const Tensor& x, const Tensor& w, Tensor& y, const ConvGeometry& g) {
  const float* px = x.data();
  const float* pw = w.data();
  float* py = y.data();
  const int64_t G = group_size(g), groups = (g.N + G - 1) / G, CHW = g.C * g.H * g.W, PQ = g.cols();
#pragma omp parallel
  {
    float* cols = thread_workspace(0, g.rows() * G * PQ);
    float* out = G > 1 ? thread_workspace(1, g.K * G * PQ) : nullptr;
#pragma omp for schedule(dynamic, 1)
    for (int64_t grp = 0; grp < groups; ++grp) {
      const int64_t n0 = grp * G, gn = std::min(G, g.N - n0), ld = gn * PQ;
      if (gn == 1) {  // one image: as the reference, y_n [K,PQ] = w [K,CRS] * cols [CRS,PQ]
        const float* c = px + n0 * CHW;
        if (!g.pointwise()) {
          im2col(c, cols, g, PQ);  // nested parallel region: runs on this thread only
          c = cols;
        }
        gemm(Device::CPU, false, false, g.K, PQ, g.rows(), 1.0f, pw, c, 0.0f, py + n0 * g.K * PQ);
        continue;
      }
      for (int64_t i = 0; i < gn; ++i) im2col(px + (n0 + i) * CHW, cols + i * PQ, g, ld);
      gemm(Device::CPU, false, false, g.K, ld, g.rows(), 1.0f, pw, cols, 0.0f, out);  // [K, gn*PQ]
      scatter_images(out, n0, gn, g.K, PQ, py);
    }
  }
}

// gy: [N,K,P,Q], w: [K,C,R,S] -> gx: [N,C,H,W]
void conv2d_backward_input_batched(const Tensor& gy, const Tensor& w, Tensor& gx, const ConvGeometry& g) {
  const float* pgy = gy.data();
  const float* pw = w.data();
  float* pgx = gx.data();
  const int64_t G = group_size(g), groups = (g.N + G - 1) / G, CHW = g.C * g.H * g.W, PQ = g.cols();
#pragma omp parallel
  {
    float* dcols = thread_workspace(0, g.rows() * G * PQ);
    float* dy = G > 1 ? thread_workspace(1, g.K * G * PQ) : nullptr;
#pragma omp for schedule(dynamic, 1)
    for (int64_t grp = 0; grp < groups; ++grp) {
      const int64_t n0 = grp * G, gn = std::min(G, g.N - n0), ld = gn * PQ;
      const float* dyg = pgy + n0 * g.K * PQ;  // one image: already [K, PQ]
      if (gn > 1) {
        gather_images(pgy, n0, gn, g.K, PQ, dy);
        dyg = dy;
      }
      float* gxn = pgx + n0 * CHW;
      // dcols [CRS, gn*PQ] = w^T [CRS,K] * dy [K, gn*PQ]; a lone pointwise image needs no col2im
      float* d = (gn == 1 && g.pointwise()) ? gxn : dcols;
      gemm(Device::CPU, true, false, g.rows(), ld, g.K, 1.0f, pw, dyg, 0.0f, d);
      if (d == dcols)
        for (int64_t i = 0; i < gn; ++i) col2im(dcols + i * PQ, gxn + i * CHW, g, ld);
    }
  }
}

// gy: [N,K,P,Q], x: [N,C,H,W] -> gw: [K,C,R,S]
void conv2d_backward_weight_batched(const Tensor& gy, const Tensor& x, Tensor& gw, const ConvGeometry& g) {
  const float* pgy = gy.data();
  const float* px = x.data();
  float* pgw = gw.data();
  const int64_t weights = g.K * g.rows();
  const int64_t G = group_size(g), groups = (g.N + G - 1) / G, CHW = g.C * g.H * g.W, PQ = g.cols();
  // Deterministic sum: each thread takes a fixed, contiguous range of image groups
  // (schedule(static)) and sums them into its own partial; the partials are then added in
  // thread order. With dynamic scheduling the order of the floating-point additions would
  // depend on timing, and the same run would not reproduce bit for bit (--resume relies on it).
  const int threads = omp_get_max_threads();
  std::vector<float*> partials(threads, nullptr);
#pragma omp parallel num_threads(threads)
  {
    float* cols = thread_workspace(0, g.rows() * G * PQ);
    float* dy = G > 1 ? thread_workspace(1, g.K * G * PQ) : nullptr;
    float* partial = thread_workspace(2, weights);  // this thread's sum over its images
    bool first = true;
#pragma omp for schedule(static)
    for (int64_t grp = 0; grp < groups; ++grp) {
      const int64_t n0 = grp * G, gn = std::min(G, g.N - n0), ld = gn * PQ;
      const float* c = px + n0 * CHW;
      if (gn > 1 || !g.pointwise()) {
        for (int64_t i = 0; i < gn; ++i) im2col(px + (n0 + i) * CHW, cols + i * PQ, g, ld);
        c = cols;
      }
      const float* dyg = pgy + n0 * g.K * PQ;
      if (gn > 1) {
        gather_images(pgy, n0, gn, g.K, PQ, dy);
        dyg = dy;
      }
      // partial [K,CRS] (+)= dy [K, gn*PQ] * cols^T [gn*PQ, CRS]
      gemm(Device::CPU, false, true, g.K, g.rows(), ld, 1.0f, dyg, c, first ? 0.0f : 1.0f, partial);
      first = false;
    }
    if (!first) partials[omp_get_thread_num()] = partial;
  }
  gw.zero_();
  for (float* partial : partials)
    if (partial)
      for (int64_t i = 0; i < weights; ++i) pgw[i] += partial[i];
}

void conv2d_forward_cpu(const Tensor& x, const Tensor& w, Tensor& y, const ConvGeometry& g) {
  if (split_batch(g)) conv2d_forward_batched(x, w, y, g);
  else conv2d_forward_reference(x, w, y, g);
}
void conv2d_backward_input_cpu(const Tensor& gy, const Tensor& w, Tensor& gx, const ConvGeometry& g) {
  if (split_batch(g)) conv2d_backward_input_batched(gy, w, gx, g);
  else conv2d_backward_input_reference(gy, w, gx, g);
}
void conv2d_backward_weight_cpu(const Tensor& gy, const Tensor& x, Tensor& gw, const ConvGeometry& g) {
  if (split_batch(g)) conv2d_backward_weight_batched(gy, x, gw, g);
  else conv2d_backward_weight_reference(gy, x, gw, g);
}

void check_conv2d_args(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  check_dim("conv2d", "input", x, 4);
  check_dim("conv2d", "weight", w, 4);
  if (x.size(1) != w.size(1))
    throw std::invalid_argument("conv2d: input has " + std::to_string(x.size(1)) + " channels (shape " +
                                shape_str(x.shape()) + ") but the weight expects " + std::to_string(w.size(1)) +
                                " (weight shape " + shape_str(w.shape()) +
                                "): check in_channels of this layer against the previous layer's output");
  if (b.defined()) {
    check_shape("conv2d", "bias", b, {w.size(0)});
    check_same_device("conv2d", x, b);
  }
  check_same_device("conv2d", x, w);
  if (p.stride_h < 1 || p.stride_w < 1 || p.dil_h < 1 || p.dil_w < 1 || p.pad_h < 0 || p.pad_w < 0)
    throw std::invalid_argument("conv2d: stride and dilation must be >= 1 and padding >= 0, got stride (" +
                                std::to_string(p.stride_h) + ", " + std::to_string(p.stride_w) + "), padding (" +
                                std::to_string(p.pad_h) + ", " + std::to_string(p.pad_w) + "), dilation (" +
                                std::to_string(p.dil_h) + ", " + std::to_string(p.dil_w) + ")");
  const int64_t eff_r = p.dil_h * (w.size(2) - 1) + 1, eff_s = p.dil_w * (w.size(3) - 1) + 1;
  const int64_t ph = x.size(2) + 2 * p.pad_h, pw = x.size(3) + 2 * p.pad_w;
  if (eff_r > ph || eff_s > pw)
    throw std::invalid_argument("conv2d: kernel " + std::to_string(eff_r) + "x" + std::to_string(eff_s) +
                                " (after dilation) is larger than the padded input " + std::to_string(ph) + "x" +
                                std::to_string(pw) + " (input shape " + shape_str(x.shape()) + ", weight shape " +
                                shape_str(w.shape()) + "): use a larger input, more padding or a smaller kernel");
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  check_conv2d_args(x, w, b, p);
  const ConvGeometry g = geometry(x.shape(), w.shape(), p);
  const Device dev = x.device();

  Tensor y = Tensor::empty({g.N, g.K, g.P, g.Q}, DType::Float32, dev);
  if (x.is_cuda()) cuda::conv2d_forward(x, w, y, p);
  else conv2d_forward_cpu(x, w, y, g);
  if (b.defined()) add_bias_(y, b);

  return record(y, "conv2d", {x, w, b}, [x, w, b, p, g, dev](const Tensor& gy) {
    Tensor gx, gw, gb;
    if (x.requires_grad()) {
      gx = Tensor::empty(x.shape(), DType::Float32, dev);
      if (dev == Device::CUDA) cuda::conv2d_backward_input(gy, w, gx, p);
      else conv2d_backward_input_cpu(gy, w, gx, g);
    }
    if (w.requires_grad()) {
      gw = Tensor::empty(w.shape(), DType::Float32, dev);
      if (dev == Device::CUDA) cuda::conv2d_backward_weight(gy, x, gw, p);
      else conv2d_backward_weight_cpu(gy, x, gw, g);
    }
    if (b.defined() && b.requires_grad()) gb = bias_grad(gy, g.K);
    return std::vector<Tensor>{gx, gw, gb};
  });
}

// ---- the module ---------------------------------------------------------------------------

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel_size, int64_t stride, int64_t padding, bool with_bias,
               int64_t dilation)
    : Conv2d(in, out, {kernel_size, kernel_size}, {stride, stride}, {padding, padding}, with_bias,
             {dilation, dilation}) {}

Conv2d::Conv2d(int64_t in, int64_t out, std::pair<int64_t, int64_t> kernel, std::pair<int64_t, int64_t> stride,
               std::pair<int64_t, int64_t> padding, bool with_bias, std::pair<int64_t, int64_t> dilation)
    : Module("Conv2d"), in_channels(in), out_channels(out) {
  params = {stride.first, stride.second, padding.first, padding.second, dilation.first, dilation.second};
  weight = register_parameter("weight", Tensor::empty({out, in, kernel.first, kernel.second}));
  default_weight_init_(weight);
  if (with_bias) {
    bias = register_parameter("bias", Tensor::empty({out}));
    default_bias_init_(bias, fan_in(weight));
  }
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, params); }

std::string Conv2d::extra_repr() const {
  auto pair = [](int64_t a, int64_t b) {
    std::string s = "(";  // appended piecewise: "(" + std::string trips GCC 12's -Wrestrict false positive
    s += std::to_string(a);
    s += ", ";
    s += std::to_string(b);
    return s + ")";
  };
  // PyTorch's format: padding and dilation only when not the default, bias only when absent.
  std::string s = std::to_string(in_channels) + ", " + std::to_string(out_channels) +
                  ", kernel_size=" + pair(weight.size(2), weight.size(3)) +
                  ", stride=" + pair(params.stride_h, params.stride_w);
  if (params.pad_h != 0 || params.pad_w != 0) s += ", padding=" + pair(params.pad_h, params.pad_w);
  if (params.dil_h != 1 || params.dil_w != 1) s += ", dilation=" + pair(params.dil_h, params.dil_w);
  if (!bias.defined()) s += ", bias=False";
  return s;
}

}  // namespace graft
