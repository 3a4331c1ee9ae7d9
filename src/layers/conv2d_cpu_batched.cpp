// src/layers/conv2d_cpu_batched.cpp — the fast CPU convolution: the batch split across threads.
//
// With N >= threads, each thread takes whole images, with its own reusable column buffer
// (thread_workspace) and a single-threaded GEMM. One parallel region per call and no barrier
// inside: a threaded GEMM synchronizes its threads by spinning between blocks, which wastes
// most of the time on the small matrices of late layers (7x7 images) and when the cores are
// shared. In forward and backward-input, images are handed out dynamically, so a thread that
// the OS preempts (a busy machine) does not hold the others up (each output is computed by one
// thread: the order does not matter). The weight gradient is summed in a per-thread buffer over
// a fixed range of images, and the buffers are added in thread order at the end, so that
// results reproduce bit for bit. With fewer images than threads (or inside a parallel region)
// it is the reference's image loop (conv2d_cpu.cpp), whose GEMM uses the threads instead.
// Registered as the "batched" variant (rank 1) of the conv2d kernels; GRAFT_KERNELS=conv2d_*=
// reference turns it off, and tests/test_perf.cpp checks it against the reference.
//
// Implicit GEMM: with graft's own GEMM (avx2, avx512) the forward and the weight gradient never
// write the column matrix — the GEMM packs its panels straight from x, through index tables
// built once per call (tensor/gemm_image.h) — and pointwise convolutions of several images are
// read in place too. The panels are those im2col + the packed GEMM would make, so the results
// are bit for bit the same where the explicit route also takes the packed path. The input
// gradient of a stride-1 convolution is computed as a forward of dy (see backward_input_batched):
// no dcols, no col2im; the same products summed in another order. Variant
// "im2col" (rank -1, chosen only by name: GRAFT_KERNELS='conv2d_*=im2col') is the same loop
// with the column matrix written, as before; it is also what runs with an Eigen GEMM.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "layers/conv2d_cpu.h"
#include "tensor/gemm.h"
#include "tensor/gemm_image.h"
#include "tensor/workspace.h"

namespace graft::conv2d_cpu {
namespace {

// Images are also grouped: G images share one column matrix [C*R*S, G*P*Q] (image i in
// columns [i*PQ, (i+1)*PQ)), so that the GEMM is wide enough to run at full speed — a 2x2 or
// 7x7 image alone gives a GEMM of 4 or 49 columns, where packing the weights costs as much as
// the product. dy and y are gathered to / scattered from the [K, G*P*Q] layout.

// With one thread the "split" is the single group loop: small images are still grouped.
bool split_batch(const ConvGeometry& g) { return !omp_in_parallel() && g.N >= omp_get_max_threads(); }

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

// The column matrix [CRS, gn*PQ] of images n0 .. n0+gn-1 of x: [N,C,H,W], built in `cols`
// (a lone pointwise image is its own column matrix).
const float* group_columns(const float* x, int64_t n0, int64_t gn, const ConvGeometry& g, float* cols) {
  const int64_t CHW = g.C * g.H * g.W, ld = gn * g.cols();
  if (gn == 1 && g.pointwise()) return x + n0 * CHW;
  for (int64_t i = 0; i < gn; ++i) im2col(x + (n0 + i) * CHW, cols + i * g.cols(), g, ld);  // one thread
  return cols;
}
// The same images of dy: [N,K,P,Q] as one [K, gn*PQ] matrix (a lone image's already is).
const float* group_grad(const float* gy, int64_t n0, int64_t gn, const ConvGeometry& g, float* grouped) {
  if (gn == 1) return gy + n0 * g.K * g.cols();
  gather_images(gy, n0, gn, g.K, g.cols(), grouped);
  return grouped;
}

// Whether this call reads the column matrix from x (implicit GEMM, see the top of the file): the
// GEMM selected can, and the group's offsets fit its int32 tables.
bool implicit_columns(bool wanted, const ConvGeometry& g, int64_t G) {
  return wanted && gemm_reads_image_columns() && image_columns_fit(g, G);
}

// x: [N,C,H,W], w: [K,C,R,S] -> y: [N,K,P,Q]; `implicit`: without writing the column matrix
void forward_grouped(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p, bool implicit) {
  const ConvGeometry g = geometry(x.shape(), w.shape(), p);
  if (!split_batch(g)) return forward_reference(x, w, y, p);
  const int64_t G = group_size(g), groups = (g.N + G - 1) / G, PQ = g.cols(), CHW = g.C * g.H * g.W;
  implicit = implicit_columns(implicit, g, G);
  const ImageColumnIndex index = implicit ? image_column_index(g, G) : ImageColumnIndex{};
#pragma omp parallel
  {
    float* cols = implicit ? nullptr : thread_workspace(0, g.rows() * G * PQ);
    float* out = G > 1 ? thread_workspace(1, g.K * G * PQ) : nullptr;
#pragma omp for schedule(dynamic, 1)
    for (int64_t grp = 0; grp < groups; ++grp) {
      const int64_t n0 = grp * G, gn = std::min(G, g.N - n0);
      // y [K, gn*PQ] = w [K,CRS] * cols [CRS, gn*PQ]; a lone image's y is written in place
      float* yg = gn == 1 ? y.data() + n0 * g.K * PQ : out;
      if (implicit && !(gn == 1 && g.pointwise()))  // (a lone pointwise image: x_n is cols)
        gemm_image_columns(false, g.K, gn * PQ, g.rows(), 1.0f, w.data(), index.of(x.data() + n0 * CHW, gn), 0.0f,
                           yg);
      else
        gemm(Device::CPU, false, false, g.K, gn * PQ, g.rows(), 1.0f, w.data(),
             group_columns(x.data(), n0, gn, g, cols), 0.0f, yg);
      if (gn > 1) scatter_images(out, n0, gn, g.K, PQ, y.data());
    }
  }
}
void forward_batched(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p) {
  forward_grouped(x, w, y, p, true);
}
void forward_im2col(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p) {
  forward_grouped(x, w, y, p, false);
}

// gy: [N,K,P,Q], w: [K,C,R,S] -> gx: [N,C,H,W] through the column matrix dcols and col2im
void backward_input_im2col(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p) {
  const ConvGeometry g = geometry(gx.shape(), w.shape(), p);
  if (!split_batch(g)) return backward_input_reference(gy, w, gx, p);
  const int64_t G = group_size(g), groups = (g.N + G - 1) / G, CHW = g.C * g.H * g.W, PQ = g.cols();
#pragma omp parallel
  {
    float* dcols = thread_workspace(0, g.rows() * G * PQ);
    float* dy = G > 1 ? thread_workspace(1, g.K * G * PQ) : nullptr;
#pragma omp for schedule(dynamic, 1)
    for (int64_t grp = 0; grp < groups; ++grp) {
      const int64_t n0 = grp * G, gn = std::min(G, g.N - n0), ld = gn * PQ;
      float* gxn = gx.data() + n0 * CHW;
      // dcols [CRS, gn*PQ] = w^T [CRS,K] * dy [K, gn*PQ]; a lone pointwise image needs no col2im
      float* d = (gn == 1 && g.pointwise()) ? gxn : dcols;
      gemm(Device::CPU, true, false, g.rows(), ld, g.K, 1.0f, w.data(), group_grad(gy.data(), n0, gn, g, dy), 0.0f, d);
      if (d == dcols)
        for (int64_t i = 0; i < gn; ++i) col2im(dcols + i * PQ, gxn + i * CHW, g, ld);
    }
  }
}

// The input gradient of a stride-1 convolution is itself a convolution, of dy with the
// weights flipped and transposed, which the implicit forward computes without dcols or col2im:
//   gx[c,h,w] = sum_{k,r,s} w[k,c,r,s] dy[k, h + pad_h - r*dil_h, w + pad_w - s*dil_w]
//             = sum_{k,r',s'} wt[c,k,r',s'] dy[k, h - pad'_h + r'*dil_h, ...]    (r' = R-1-r)
// with wt[c,k,r',s'] = w[k,c,R-1-r',S-1-s'] and padding pad' = dil*(R-1) - pad (>= 0 for the
// usual "same" padding), stride 1; the output is H x W again. One GEMM sums over k and the taps
// where the im2col route sums over k, then col2im over the taps: the same products in another
// order (float rounding). Strided convolutions, padding beyond dil*(R-1), and an Eigen GEMM
// keep the route above.
void backward_input_batched(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p) {
  const ConvGeometry g = geometry(gx.shape(), w.shape(), p);
  const Conv2dParams pt{1, 1, p.dil_h * (g.R - 1) - p.pad_h, p.dil_w * (g.S - 1) - p.pad_w, p.dil_h, p.dil_w};
  const bool as_convolution = split_batch(g) && p.stride_h == 1 && p.stride_w == 1 && pt.pad_h >= 0 && pt.pad_w >= 0;
  if (!as_convolution) return backward_input_im2col(gy, w, gx, p);
  Tensor wt = Tensor::empty({g.C, g.K, g.R, g.S});  // [C,K,R,S]: transposed, the taps flipped
  const ConvGeometry gt = geometry(gy.shape(), wt.shape(), pt);
  if (!implicit_columns(true, gt, group_size(gt))) return backward_input_im2col(gy, w, gx, p);
  const float* pw = w.data();
  float* pwt = wt.data();
  const int64_t RS = g.R * g.S;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t k = 0; k < g.K; ++k)
      for (int64_t t = 0; t < RS; ++t) pwt[(c * g.K + k) * RS + t] = pw[(k * g.C + c) * RS + (RS - 1 - t)];
  forward_grouped(gy, wt, gx, pt, true);
}

// gy: [N,K,P,Q], x: [N,C,H,W] -> gw: [K,C,R,S]; `implicit`: without writing the column matrix
void backward_weight_grouped(const Tensor& gy, const Tensor& x, Tensor& gw, const Conv2dParams& p, bool implicit) {
  const ConvGeometry g = geometry(x.shape(), gw.shape(), p);
  if (!split_batch(g)) return backward_weight_reference(gy, x, gw, p);
  const int64_t weights = g.K * g.rows();
  const int64_t G = group_size(g), groups = (g.N + G - 1) / G, PQ = g.cols(), CHW = g.C * g.H * g.W;
  implicit = implicit_columns(implicit, g, G);
  const ImageColumnIndex index = implicit ? image_column_index(g, G) : ImageColumnIndex{};
  // Deterministic sum: each thread takes a fixed, contiguous range of image groups
  // (schedule(static)) and sums them into its own partial; the partials are then added in
  // thread order. With dynamic scheduling the order of the floating-point additions would
  // depend on timing, and the same run would not reproduce bit for bit (--resume relies on it).
  const int threads = omp_get_max_threads();
  std::vector<float*> partials(threads, nullptr);
#pragma omp parallel num_threads(threads)
  {
    float* cols = implicit ? nullptr : thread_workspace(0, g.rows() * G * PQ);
    float* dy = G > 1 ? thread_workspace(1, g.K * G * PQ) : nullptr;
    float* partial = thread_workspace(2, weights);  // this thread's sum over its images
    bool first = true;
#pragma omp for schedule(static)
    for (int64_t grp = 0; grp < groups; ++grp) {
      const int64_t n0 = grp * G, gn = std::min(G, g.N - n0);
      // partial [K,CRS] (+)= dy [K, gn*PQ] * cols^T [gn*PQ, CRS]
      const float* dyg = group_grad(gy.data(), n0, gn, g, dy);
      if (implicit && !(gn == 1 && g.pointwise()))
        gemm_image_columns(true, g.K, g.rows(), gn * PQ, 1.0f, dyg, index.of(x.data() + n0 * CHW, gn),
                           first ? 0.0f : 1.0f, partial);
      else
        gemm(Device::CPU, false, true, g.K, g.rows(), gn * PQ, 1.0f, dyg, group_columns(x.data(), n0, gn, g, cols),
             first ? 0.0f : 1.0f, partial);
      first = false;
    }
    if (!first) partials[omp_get_thread_num()] = partial;
  }
  gw.zero_();
  float* pgw = gw.data();
  for (float* partial : partials)
    if (partial)
      for (int64_t i = 0; i < weights; ++i) pgw[i] += partial[i];
}

void backward_weight_batched(const Tensor& gy, const Tensor& x, Tensor& gw, const Conv2dParams& p) {
  backward_weight_grouped(gy, x, gw, p, true);
}
void backward_weight_im2col(const Tensor& gy, const Tensor& x, Tensor& gw, const Conv2dParams& p) {
  backward_weight_grouped(gy, x, gw, p, false);
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::conv2d_forward, CPU, "im2col", forward_im2col, -1);
GRAFT_REGISTER_KERNEL(kernels::conv2d_backward_input, CPU, "im2col", backward_input_im2col, -1);
GRAFT_REGISTER_KERNEL(kernels::conv2d_backward_weight, CPU, "im2col", backward_weight_im2col, -1);
GRAFT_REGISTER_KERNEL(kernels::conv2d_forward, CPU, "batched", forward_batched, 1);
GRAFT_REGISTER_KERNEL(kernels::conv2d_backward_input, CPU, "batched", backward_input_batched, 1);
GRAFT_REGISTER_KERNEL(kernels::conv2d_backward_weight, CPU, "batched", backward_weight_batched, 1);

}  // namespace graft::conv2d_cpu
