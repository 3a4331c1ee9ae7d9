// src/layers/conv2d_winograd.cpp — 3x3 stride-1 convolutions by Winograd's minimal filtering.
//
// F(m x m, 3x3) computes an m x m block of outputs from an (m+2) x (m+2) input tile d with
// a = (m+2)^2 multiplies per channel pair instead of 9 m^2 (Lavin & Gray 2015, as NNPACK, ncnn
// and oneDNN do):
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A        g: one 3x3 filter, .* elementwise
// Summed over the input channels, the elementwise products become, for each of the a
// "transform points" xi, one matrix product over channels:
//   U_xi [K,C]   = (G g_kc G^T)_xi          the weights, transformed once per call
//   V_xi [C,T]   = (B^T d_ct B)_xi          every input tile t of every channel
//   M_xi [K,T]   = U_xi V_xi                a GEMMs of graft's gemm table (gemm.h)
//   y tile (k,t) = A^T M_(.,k,t) A          the output transform
// F(2x2,3x3): 4x4 tiles, 16 products for 36: 2.25x fewer multiplies. F(4x4,3x3): 6x6 tiles,
// 36 for 144: 4x fewer. The price is rounding: the transforms add and scale inputs of
// different size (B^T has entries up to 5 for F(4,3), G has 1/6 and 1/24), so the error grows
// with m: ~2e-7 of the output scale for F(2,3) (the direct path's own), ~4e-6 for F(4,3)
// (tests/test_winograd.cpp measures both).
//
// Tiling and threads: the tiles of the batch are taken a "block" of whole tile rows at a time
// (rows of several images when the images are small, so that the GEMMs are wide enough); each
// thread takes blocks dynamically, as conv2d_cpu_batched.cpp takes images, with its own V and M
// (thread_workspace slots 0 and 1) and single-threaded GEMMs. Within a block, L tiles that are
// neighbours in one tile row are transformed together, one lane each, so the transforms are
// loops over lanes that the compiler vectorizes.
//
// Backward input: dx of a 3x3 stride-1 convolution with padding p is the 3x3 stride-1
// convolution of dy with padding 2-p and the weights flipped (r,s -> 2-r,2-s) and transposed
// (k <-> c), so the same code serves it (for p <= 2). The weight gradient stays on the GEMM.
//
// Variants: "winograd4" of conv2d_forward (rank 3, the default): F(4x4,3x3), or F(2x2,3x3) on
// images under 20x20; "winograd" (rank 2): F(2x2,3x3) only, the more exact (both take F(2x2)
// only when C * K >= 64 * 64); "winograd" of conv2d_backward_input (rank -1: only when selected)
// for dx by F(2x2,3x3). They run when the convolution is 3x3, stride 1, dilation 1, with C and
// K >= 16 and an output of at least 8x8 (below, the transforms cost what the multiplies save);
// otherwise the call goes to the "batched" variant.
// Training: a forward that autograd records (a gradient is wanted) runs F(2x2,3x3) under the
// same thresholds, never F(4x4,3x3). F(2x2)'s error is the size of the direct path's own
// rounding, and the models' gradient parity tests (test_models.cpp) stay where they were: worst
// 0.41 of their tolerance (DenseNet121's norm0.weight; 0.39 on the direct path, 0.43 with dx by
// F(2x2) too). F(4x4) there put VGG16's gradients 28x over it (an earlier attempt, DenseNet121's
// 3x). dx by F(2x2) stays opt-in: on whole training steps it did not win with the AVX-512 GEMM
// (see its registration below). Switches: GRAFT_KERNELS=conv2d_forward=winograd4_infer keeps
// Winograd for inference only (training bit for bit im2col + GEMM, as before);
// GRAFT_KERNELS='conv2d_*=batched' is the direct path everywhere.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "autograd/engine.h"
#include "layers/conv2d_cpu.h"
#include "layers/conv2d_winograd.h"
#include "tensor/gemm.h"
#include "tensor/workspace.h"

namespace graft::conv2d_cpu {
namespace {

constexpr int L = 8;  // tiles transformed together (lanes)

// The transforms of F(m,3), each on one column of L lanes: element k of the input at in + k*is,
// element i of the output at out + i*os. Written out (not as matrix products) so that the zeros
// of B^T and A^T cost nothing.
template <int m>
struct Transform;

template <>
struct Transform<2> {
  static constexpr int a = 4;  // tile side
  static constexpr float G[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
  // B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
  static void input(const float* __restrict in, int is, float* __restrict out, int os) {
    for (int l = 0; l < L; ++l) {
      const float d0 = in[l], d1 = in[is + l], d2 = in[2 * is + l], d3 = in[3 * is + l];
      out[l] = d0 - d2;
      out[os + l] = d1 + d2;
      out[2 * os + l] = d2 - d1;
      out[3 * os + l] = d1 - d3;
    }
  }
  // A^T = [1 1 1 0; 0 1 -1 -1]
  static void output(const float* __restrict in, int is, float* __restrict out, int os) {
    for (int l = 0; l < L; ++l) {
      const float m0 = in[l], m1 = in[is + l], m2 = in[2 * is + l], m3 = in[3 * is + l];
      out[l] = m0 + m1 + m2;
      out[os + l] = m1 - m2 - m3;
    }
  }
};

template <>
struct Transform<4> {
  static constexpr int a = 6;
  static constexpr float G[6][3] = {{1.0f / 4, 0, 0},
                                    {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                                    {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                                    {1.0f / 24, 1.0f / 12, 1.0f / 6},
                                    {1.0f / 24, -1.0f / 12, 1.0f / 6},
                                    {0, 0, 1}};
  // B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
  static void input(const float* __restrict in, int is, float* __restrict out, int os) {
    for (int l = 0; l < L; ++l) {
      const float d0 = in[l], d1 = in[is + l], d2 = in[2 * is + l], d3 = in[3 * is + l], d4 = in[4 * is + l],
                  d5 = in[5 * is + l];
      out[l] = 4 * d0 - 5 * d2 + d4;
      out[os + l] = (d4 + d3) - 4 * (d1 + d2);
      out[2 * os + l] = (d4 - d3) + 4 * (d1 - d2);
      out[3 * os + l] = (d4 - d2) + 2 * (d3 - d1);
      out[4 * os + l] = (d4 - d2) - 2 * (d3 - d1);
      out[5 * os + l] = 4 * d1 - 5 * d3 + d5;
    }
  }
  // A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
  static void output(const float* __restrict in, int is, float* __restrict out, int os) {
    for (int l = 0; l < L; ++l) {
      const float m0 = in[l], m1 = in[is + l], m2 = in[2 * is + l], m3 = in[3 * is + l], m4 = in[4 * is + l],
                  m5 = in[5 * is + l];
      const float s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
      out[l] = m0 + s12 + s34;
      out[os + l] = d12 + 2 * d34;
      out[2 * os + l] = s12 + 4 * s34;
      out[3 * os + l] = d12 + 8 * d34 + m5;
    }
  }
};

// The sizes of one Winograd convolution: x [N,C,H,W] * (3x3, padding ph,pw) -> y [N,K,P,Q].
struct Problem {
  int64_t N, C, H, W, K, P, Q, ph, pw;
};

// U [a*a, K, C]: U_xi[k][c] = (G g G^T)_xi with g = w[k][c] (forward) or, for dx, the
// convolution of dy [N,K',..] with w' [C',K',3,3] = flipped w: U_xi[c][k] = (G flip(w[k][c]) G^T)_xi.
// w: [K,C,3,3] as stored.
template <int m>
void transform_weights(const float* w, int64_t K, int64_t C, bool flip_transpose, float* U) {
  using T = Transform<m>;
  constexpr int a = T::a;
  const int64_t rows = flip_transpose ? C : K, cols = flip_transpose ? K : C;  // U_xi is [rows, cols]
  // Lanes over the columns of U_xi (c forward, k for dx): contiguous stores, vectorized sums.
#pragma omp parallel for if (K * C > 4096)
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t col0 = 0; col0 < cols; col0 += L) {
      const int cnt = static_cast<int>(std::min<int64_t>(L, cols - col0));
      alignas(64) float g[3][3][L] = {};
      for (int l = 0; l < cnt; ++l) {
        const int64_t k = flip_transpose ? col0 + l : row, c = flip_transpose ? row : col0 + l;
        const float* g0 = w + (k * C + c) * 9;
        for (int r = 0; r < 3; ++r)
          for (int s = 0; s < 3; ++s) g[r][s][l] = flip_transpose ? g0[(2 - r) * 3 + (2 - s)] : g0[r * 3 + s];
      }
      alignas(64) float gg[a][3][L];  // G g
      for (int i = 0; i < a; ++i)
        for (int s = 0; s < 3; ++s)
          for (int l = 0; l < L; ++l)
            gg[i][s][l] = T::G[i][0] * g[0][s][l] + T::G[i][1] * g[1][s][l] + T::G[i][2] * g[2][s][l];
      for (int i = 0; i < a; ++i)
        for (int j = 0; j < a; ++j) {  // (G g G^T)_ij
          alignas(64) float u[L];
          for (int l = 0; l < L; ++l)
            u[l] = gg[i][0][l] * T::G[j][0] + gg[i][1][l] * T::G[j][1] + gg[i][2][l] * T::G[j][2];
          std::memcpy(U + (i * a + j) * rows * cols + row * cols + col0, u, cnt * sizeof(float));
        }
    }
}

// One block: the tile rows [row0, row0 + nrows) of the batch (tile row r = image r / TH, row r % TH),
// TW tiles each, tb = nrows * TW tiles in all.
template <int m>
void run_block(const float* x, const float* U, float* y, const Problem& pr, int64_t TH, int64_t TW, int64_t row0,
               int64_t nrows, float* V, float* M) {
  using T = Transform<m>;
  constexpr int a = T::a, aa = a * a;
  const int64_t tb = nrows * TW;
  // Input transform: V [aa, C, tb].
  for (int64_t c = 0; c < pr.C; ++c)
    for (int64_t r = 0; r < nrows; ++r) {
      const int64_t n = (row0 + r) / TH, ty = (row0 + r) % TH;
      const float* plane = x + (n * pr.C + c) * pr.H * pr.W;
      for (int64_t tx0 = 0; tx0 < TW; tx0 += L) {
        const int cnt = static_cast<int>(std::min<int64_t>(L, TW - tx0));
        alignas(64) float d[a][a][L];  // d[i][j][l]: row i, column j of lane l's tile
        alignas(64) float t[a][a][L];
        for (int i = 0; i < a; ++i) {
          const int64_t ih = ty * m - pr.ph + i;
          if (ih < 0 || ih >= pr.H) {  // a row of padding: B^T 0 B = 0
            std::memset(t[i], 0, sizeof t[i]);
            continue;
          }
          // The row, deinterleaved by column phase: ph[k][l] = row[(tx0 + l) m + k - pw], zero outside.
          float ph[m][L + 1];
          const float* row = plane + ih * pr.W;
          const int64_t base = tx0 * m - pr.pw;
          if (base >= 0 && base + (L + 1) * m <= pr.W) {
            for (int l = 0; l <= L; ++l)
              for (int k = 0; k < m; ++k) ph[k][l] = row[base + l * m + k];
          } else {
            for (int l = 0; l <= L; ++l)
              for (int k = 0; k < m; ++k) {
                const int64_t iw = base + l * m + k;
                ph[k][l] = (iw >= 0 && iw < pr.W) ? row[iw] : 0.0f;
              }
          }
          for (int j = 0; j < a; ++j)  // column j of lane l's tile is column (l + j/m) m + j%m of the row
            for (int l = 0; l < L; ++l) d[i][j][l] = ph[j % m][l + j / m];
          T::input(&d[i][0][0], L, &t[i][0][0], L);  // rows: t[i] = d[i] B
        }
        for (int j = 0; j < a; ++j) T::input(&t[0][j][0], a * L, &d[0][j][0], a * L);  // columns: B^T t
        const int64_t at = r * TW + tx0;
        for (int xi = 0; xi < aa; ++xi) std::memcpy(V + (xi * pr.C + c) * tb + at, d[xi / a][xi % a], cnt * sizeof(float));
      }
    }
  // M_xi [K, tb] = U_xi [K, C] * V_xi [C, tb]
  for (int xi = 0; xi < aa; ++xi)
    gemm(Device::CPU, false, false, pr.K, tb, pr.C, 1.0f, U + xi * pr.K * pr.C, V + xi * pr.C * tb, 0.0f,
         M + xi * pr.K * tb);
  // Output transform: y tile = A^T M A, clipped at the image's edge.
  for (int64_t k = 0; k < pr.K; ++k)
    for (int64_t r = 0; r < nrows; ++r) {
      const int64_t n = (row0 + r) / TH, ty = (row0 + r) % TH;
      float* plane = y + (n * pr.K + k) * pr.P * pr.Q;
      for (int64_t tx0 = 0; tx0 < TW; tx0 += L) {
        const int cnt = static_cast<int>(std::min<int64_t>(L, TW - tx0));
        alignas(64) float mm[a][a][L];
        alignas(64) float o1[m][a][L];
        alignas(64) float o[m][m][L];
        const int64_t at = r * TW + tx0;
        for (int xi = 0; xi < aa; ++xi) {
          float* dst = mm[xi / a][xi % a];
          std::memcpy(dst, M + (xi * pr.K + k) * tb + at, cnt * sizeof(float));
          for (int l = cnt; l < L; ++l) dst[l] = 0.0f;
        }
        for (int j = 0; j < a; ++j) T::output(&mm[0][j][0], a * L, &o1[0][j][0], a * L);  // A^T M
        for (int i = 0; i < m; ++i) T::output(&o1[i][0][0], L, &o[i][0][0], L);          // (A^T M) A
        for (int i = 0; i < m; ++i) {
          const int64_t oh = ty * m + i;
          if (oh >= pr.P) break;
          float* out = plane + oh * pr.Q + tx0 * m;
          const int64_t valid = std::min<int64_t>(cnt * m, pr.Q - tx0 * m);  // columns inside the image
          if (valid == L * m) {
            for (int l = 0; l < L; ++l)
              for (int j = 0; j < m; ++j) out[l * m + j] = o[i][j][l];
          } else {
            for (int64_t q = 0; q < valid; ++q) out[q] = o[i][q % m][q / m];
          }
        }
      }
    }
}

// Tiles per block: the GEMMs want wide blocks (the weights U_xi are packed once per GEMM), the
// caches want V and M small; and every thread wants a block.
constexpr int64_t kBlockTiles = 192;
constexpr int64_t kBlockFloats = int64_t{3} << 20;  // V + M of one block: at most 12 MB

template <int m>
void winograd(const float* x, const float* U, float* y, const Problem& pr) {
  constexpr int a = m + 2;
  const int64_t TH = (pr.P + m - 1) / m, TW = (pr.Q + m - 1) / m, rows = pr.N * TH;
  const int64_t threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t by_memory = kBlockFloats / (a * a * (pr.C + pr.K));
  int64_t per_block = std::max<int64_t>(1, std::min(kBlockTiles, by_memory) / TW);  // tile rows
  per_block = std::min(per_block, std::max<int64_t>(1, (rows + threads - 1) / threads));
  const int64_t blocks = (rows + per_block - 1) / per_block;
#pragma omp parallel if (threads > 1 && blocks > 1)
  {
    float* V = thread_workspace(0, a * a * pr.C * per_block * TW);
    float* M = thread_workspace(1, a * a * pr.K * per_block * TW);
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t row0 = b * per_block;
      run_block<m>(x, U, y, pr, TH, TW, row0, std::min(per_block, rows - row0), V, M);
    }
  }
}

// Below 16 input or output channels, or on images smaller than 8x8, the transforms cost about
// what the multiplies save (tools/bench_conv, CPU time of one thread: 8x128x7x7 -> 32 channels
// 5% slower with Winograd, 512 -> 512 at 7x7 even; 16 -> 16 at 56x56 12% faster).
constexpr int64_t kMinChannels = 16, kMinSize = 8;

bool applies(const ConvGeometry& g) {
  const Conv2dParams& p = g.p;
  return g.R == 3 && g.S == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dil_h == 1 && p.dil_w == 1 &&
         g.C >= kMinChannels && g.K >= kMinChannels && std::min(g.P, g.Q) >= kMinSize && g.N > 0;
}

// Whether this forward is being recorded for backward (training): then only F(2x2,3x3), whose
// error is the direct path's own (the header comment).
bool recorded(const Tensor& x, const Tensor& w) { return grad_enabled() && (x.requires_grad() || w.requires_grad()); }

// F(4x4,3x3) where the images are large enough, else F(2x2,3x3): small images give few 6x6
// tiles (narrow GEMMs, a weight transform of 36 points amortized over them) and waste more of
// each at the edge (tools/bench_conv: F(2,3) was ahead at 14x14 and 7x7, F(4,3) at 28x28 and up).
// (the setting itself, set_winograd_f4_min_size, lives in the baseline copy: one for all copies)
// F(2x2,3x3) saves less (2.25x) and needs more channels to pay for its transforms: it lost to
// the direct path at C = K = 32 (56x56: 9.1 vs 7.4 ms CPU) and won at 128 -> 32 (14x14: 1.5 vs
// 2.0 ms) and 64 -> 64 (56x56: 19.9 vs 23.0 ms).
constexpr int64_t kMinChannelProductF2 = 64 * 64;  // set_winograd_f4_min_size (the tests)

// The two products, as the header's winograd_forward / winograd_backward_input.
template <int m>
void run_forward(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p) {
  const ConvGeometry g = geometry(x.shape(), w.shape(), p);
  constexpr int a = m + 2;
  // U [a*a, K, C] in the calling thread's slot 2 (the other threads only read it).
  float* U = thread_workspace(2, a * a * g.K * g.C);
  transform_weights<m>(w.data(), g.K, g.C, false, U);
  winograd<m>(x.data(), U, y.data(), Problem{g.N, g.C, g.H, g.W, g.K, g.P, g.Q, p.pad_h, p.pad_w});
}

template <int m>
void run_backward_input(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p) {
  const ConvGeometry g = geometry(gx.shape(), w.shape(), p);
  constexpr int a = m + 2;
  float* U = thread_workspace(2, a * a * g.K * g.C);
  transform_weights<m>(w.data(), g.K, g.C, true, U);
  // dx [N,C,H,W] = conv(dy [N,K,P,Q], w' [C,K,3,3], padding 2-p)
  winograd<m>(gy.data(), U, gx.data(), Problem{g.N, g.K, g.P, g.Q, g.C, g.H, g.W, 2 - p.pad_h, 2 - p.pad_w});
}

// m = 4 ("winograd4"): F(4x4,3x3) on large enough images when nothing is recorded, F(2x2,3x3)
// otherwise. m = 2 ("winograd"): F(2x2,3x3) only. training = false ("winograd4_infer"): a
// recorded forward takes the direct path, as before Winograd ran in training.
template <int m, bool training = true>
void forward_winograd_m(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p) {
  const ConvGeometry g = geometry(x.shape(), w.shape(), p);
  const bool train = recorded(x, w);
  if (!applies(g) || (train && !training))
    return kernels::conv2d_forward.call_variant(Device::CPU, "batched", x, w, y, p);
  if (m == 4 && !train && std::min(g.P, g.Q) >= winograd_f4_min_size()) return run_forward<4>(x, w, y, p);
  if (g.C * g.K < kMinChannelProductF2)
    return kernels::conv2d_forward.call_variant(Device::CPU, "batched", x, w, y, p);
  run_forward<2>(x, w, y, p);
}

void backward_input_winograd(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p) {
  const ConvGeometry g = geometry(gx.shape(), w.shape(), p);
  if (!applies(g) || p.pad_h > 2 || p.pad_w > 2)
    return kernels::conv2d_backward_input.call_variant(Device::CPU, "batched", gy, w, gx, p);
  run_backward_input<2>(gy, w, gx, p);
}

}  // namespace

// The entry points of the header, and the F(4x4) threshold: in the baseline copy only (the
// others would define the same names; tensor/cpu_isa.h).
#if GRAFT_ISA_BASELINE
namespace {
constexpr int64_t kMinSizeF4 = 20;
int64_t min_size_f4 = kMinSizeF4;
}  // namespace
void set_winograd_f4_min_size(int64_t size) { min_size_f4 = size < 0 ? kMinSizeF4 : size; }
int64_t winograd_f4_min_size() { return min_size_f4; }

template <int m>
void winograd_forward(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p) {
  run_forward<m>(x, w, y, p);
}
template <int m>
void winograd_backward_input(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p) {
  run_backward_input<m>(gy, w, gx, p);
}
template void winograd_forward<2>(const Tensor&, const Tensor&, Tensor&, const Conv2dParams&);
template void winograd_forward<4>(const Tensor&, const Tensor&, Tensor&, const Conv2dParams&);
template void winograd_backward_input<2>(const Tensor&, const Tensor&, Tensor&, const Conv2dParams&);
template void winograd_backward_input<4>(const Tensor&, const Tensor&, Tensor&, const Conv2dParams&);
#endif

// Compiled once per instruction set (tensor/cpu_isa.h): "winograd4" is the build's flags (SSE2
// on a portable build: the 8-lane transforms as two 4-lane halves), "winograd4_avx2" and
// "winograd4_avx512" the copies, ranked above it, so the widest runs.
GRAFT_REGISTER_KERNEL(kernels::conv2d_forward, CPU, GRAFT_ISA_VARIANT("winograd4", 3), forward_winograd_m<4>);
GRAFT_REGISTER_KERNEL(kernels::conv2d_forward, CPU, GRAFT_ISA_VARIANT("winograd", 2), forward_winograd_m<2>);
// Winograd in inference only (training on im2col + GEMM): rank -1, GRAFT_KERNELS=conv2d_forward=winograd4_infer.
GRAFT_REGISTER_KERNEL(kernels::conv2d_forward, CPU, GRAFT_ISA_VARIANT("winograd4_infer", -1), forward_winograd_m<4, false>);
// dx: rank -1, chosen only by a selection (GRAFT_KERNELS=conv2d_backward_input=winograd). The
// backward's time is mostly the weight gradient's: on whole training steps (CPU time,
// docs/benchmarks.md "Winograd in training") it saved 2-9% with the AVX2 GEMM and on VGG16, but
// cost 1-3% on ResNet18 with the AVX-512 one (the default), so it is not the default.
GRAFT_REGISTER_KERNEL(kernels::conv2d_backward_input, CPU, GRAFT_ISA_VARIANT("winograd", -1), backward_input_winograd);

}  // namespace graft::conv2d_cpu
