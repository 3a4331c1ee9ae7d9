// src/tensor/gemm_avx512.cpp — a packed GEMM with an AVX-512 micro-kernel (compiled with
// -mavx512f -mavx512bw -mavx512vl -mavx2 -mfma, see meson.build; called only when the CPU has
// them). Row-major, C[M,N] = alpha * op(A) * op(B) + beta * C, as gemm_baseline.
//
// The classic BLIS/GotoBLAS structure:
//   for each KC-deep slice of K:
//     pack op(B)[KC, N] into NR-wide column panels   Bp[j-panel][k][0..NR)
//     pack op(A)[M, KC] into MR-tall row panels      Ap[i-panel][k][0..MR)
//     for each (MC rows of C, NR columns of C) tile, for each MR-row panel in it:
//       the micro-kernel: acc[MR][NR] += sum_k Ap[k][i] * Bp[k][j]   (24 zmm accumulators)
//       then C = alpha * acc + beta * C (beta = 1 after the first K slice)
// Packing makes every operand of the inner loop contiguous whatever the transposes are, and
// zero-pads the edges so that the kernel always runs full; the edges of C are written with
// AVX-512 masks. Threads (OpenMP) split the (row block, column panel) tiles; inside a
// parallel region (a convolution split over the batch) it runs on the calling thread only.
//
// Why not Eigen here: Eigen's AVX-512 kernel reached ~40% of one core's peak on the
// convolution shapes (77 GFLOP/s where oneDNN reaches ~150); this kernel keeps 24 of the 32
// zmm registers as accumulators and the packed panels in L1/L2.
#include <immintrin.h>
#include <omp.h>


#include "tensor/workspace.h"
#include "tensor/gemm_variants.h"

namespace graft::gemm_variants {

namespace {

// No standard-library templates in this file (std::min, std::vector): an out-of-line copy
// compiled here with AVX-512 could be the one the linker keeps for the whole program (see
// gemm_variants.h). File-local helpers have internal linkage and cannot be merged.
int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

constexpr int64_t MR = 12;   // rows of C per micro-kernel call (12 broadcasts of A per k)
constexpr int64_t NR = 32;   // columns of C per micro-kernel call (2 zmm of B per k)
constexpr int64_t KC = 256;  // depth of one packed slice: an MR x KC panel of A is 12 KB (L1)
constexpr int64_t MC = 96;   // rows of C sharing one pass over a B panel (A block 96 KB, L2)

// op(A)[i,k] for row-major A: [M,K], or [K,M] when transposed.
struct OpA {
  const float* a;
  int64_t M, K;
  bool trans;
  float operator()(int64_t i, int64_t k) const { return trans ? a[k * M + i] : a[i * K + k]; }
};
// op(B)[k,j] for row-major B: [K,N], or [N,K] when transposed.
struct OpB {
  const float* b;
  int64_t K, N;
  bool trans;
  float operator()(int64_t k, int64_t j) const { return trans ? b[j * K + k] : b[k * N + j]; }
};

// Rows [i0, i0+MR) of op(A), columns [k0, k0+kc) -> Ap[k*MR + i], zero past M.
void pack_a_panel(const OpA& A, int64_t i0, int64_t k0, int64_t kc, float* Ap) {
  const int64_t m = min64(MR, A.M - i0);
  if (!A.trans) {
    // k outer, the 12 rows inner: 12 sequential read streams at once (row by row, each short
    // row segment stalled on its own cache misses: this loop was 2/3 of the packing time).
    const float* rows[MR];
    for (int64_t i = 0; i < MR; ++i) rows[i] = A.a + (i0 + min64(i, m - 1)) * A.K + k0;
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t i = 0; i < MR; ++i) Ap[k * MR + i] = i < m ? rows[i][k] : 0.0f;
  } else {
    for (int64_t k = 0; k < kc; ++k) {
      const float* col = A.a + (k0 + k) * A.M + i0;  // contiguous along i
      for (int64_t i = 0; i < MR; ++i) Ap[k * MR + i] = i < m ? col[i] : 0.0f;
    }
  }
}

// Rows [k0, k0+kc) of op(B), columns [j0, j0+NR) -> Bp[k*NR + j], zero past N.
void pack_b_panel(const OpB& B, int64_t k0, int64_t kc, int64_t j0, float* Bp) {
  const int64_t n = min64(NR, B.N - j0);
  if (!B.trans) {
    const __mmask16 m0 = n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1);
    const __mmask16 m1 = n >= 32 ? 0xFFFF : n <= 16 ? 0 : static_cast<__mmask16>((1u << (n - 16)) - 1);
    for (int64_t k = 0; k < kc; ++k) {
      const float* row = B.b + (k0 + k) * B.N + j0;  // contiguous along j
      _mm512_store_ps(Bp + k * NR, _mm512_maskz_loadu_ps(m0, row));
      _mm512_store_ps(Bp + k * NR + 16, _mm512_maskz_loadu_ps(m1, row + 16));
    }
  } else {
    for (int64_t j = 0; j < NR; ++j) {
      const float* col = B.b + (j0 + j) * B.K + k0;  // contiguous along k
      if (j < n)
        for (int64_t k = 0; k < kc; ++k) Bp[k * NR + j] = col[k];
      else
        for (int64_t k = 0; k < kc; ++k) Bp[k * NR + j] = 0.0f;
    }
  }
}

// C[0..m, 0..n) = alpha * (Ap^T Bp) + beta * C over kc steps; Ap: [kc][MR], Bp: [kc][NR]
// (64-byte aligned). m <= MR, n <= NR; beta == 0 never reads C (it may be uninitialized).
void micro_kernel(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, int64_t m, int64_t n,
                  float alpha, float beta) {
  __m512 acc[MR][2];
#pragma GCC unroll 12
  for (int64_t i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(Bp), b1 = _mm512_load_ps(Bp + 16);
#pragma GCC unroll 12
    for (int64_t i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(Ap[i]);
      acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
    }
    Ap += MR;
    Bp += NR;
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const __mmask16 m0 = n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1);
  const __mmask16 m1 = n >= 32 ? 0xFFFF : n <= 16 ? 0 : static_cast<__mmask16>((1u << (n - 16)) - 1);
#pragma GCC unroll 12
  for (int64_t i = 0; i < MR; ++i) {
    if (i >= m) break;
    float* c = C + i * ldc;
    __m512 r0 = _mm512_mul_ps(va, acc[i][0]), r1 = _mm512_mul_ps(va, acc[i][1]);
    if (beta != 0.0f) {
      r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), r0);
      r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), r1);
    }
    _mm512_mask_storeu_ps(c, m0, r0);
    _mm512_mask_storeu_ps(c + 16, m1, r1);
  }
}

}  // namespace

void gemm_avx512(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 const float* B, float beta, float* C) {
  if (K == 0) {  // C = beta * C, never reading C when beta is 0
    for (int64_t i = 0; i < M * N; ++i) C[i] = beta == 0.0f ? 0.0f : beta * C[i];
    return;
  }
  if (N < NR && M > N) {
    // Few columns (a convolution's late 7x7 or 2x2 images): most of each NR-wide panel would
    // be padding. Compute T = C^T = op(B)^T op(A)^T instead — the long side fills the panels —
    // then C = alpha * T^T + beta * C.
    float* T = thread_workspace(3, N * M);  // [N, M]; slots 4-5 are used by the call below
    gemm_avx512(!trans_b, !trans_a, N, M, K, 1.0f, B, A, 0.0f, T);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        const float t = alpha * T[j * M + i];
        C[i * N + j] = beta == 0.0f ? t : t + beta * C[i * N + j];
      }
    return;
  }
  const OpA opa{A, M, K, trans_a};
  const OpB opb{B, K, N, trans_b};
  const int64_t a_panels = (M + MR - 1) / MR, b_panels = (N + NR - 1) / NR;
  const int64_t panels_per_block = MC / MR, row_blocks = (a_panels + panels_per_block - 1) / panels_per_block;
  float* Ap = thread_workspace(4, a_panels * MR * KC);  // this (calling) thread's buffers,
  float* Bp = thread_workspace(5, b_panels * NR * KC);  // shared with the team below
  // Threads only pay when there is work for several and we are not inside a parallel region.
  const bool parallel = !omp_in_parallel() && omp_get_max_threads() > 1 && 2.0 * M * N * K > 4e6;

  for (int64_t k0 = 0; k0 < K; k0 += KC) {
    const int64_t kc = min64(KC, K - k0);
    const float slice_beta = k0 == 0 ? beta : 1.0f;  // later slices add to the partial sums
#pragma omp parallel if (parallel)
    {
#pragma omp for schedule(static) nowait
      for (int64_t jp = 0; jp < b_panels; ++jp) pack_b_panel(opb, k0, kc, jp * NR, Bp + jp * NR * kc);
#pragma omp for schedule(static)
      for (int64_t ip = 0; ip < a_panels; ++ip) pack_a_panel(opa, ip * MR, k0, kc, Ap + ip * MR * kc);
      // Tiles in (row block, column panel) order: a thread's consecutive tiles share the
      // row block, whose packed A stays in L2 while the B panels stream past it.
#pragma omp for collapse(2) schedule(static)
      for (int64_t rb = 0; rb < row_blocks; ++rb)
        for (int64_t jp = 0; jp < b_panels; ++jp) {
          const int64_t j0 = jp * NR, n = min64(NR, N - j0);
          const int64_t ip_end = min64(a_panels, (rb + 1) * panels_per_block);
          for (int64_t ip = rb * panels_per_block; ip < ip_end; ++ip) {
            const int64_t i0 = ip * MR;
            micro_kernel(kc, Ap + ip * MR * kc, Bp + jp * NR * kc, C + i0 * N + j0, N, min64(MR, M - i0), n,
                         alpha, slice_beta);
          }
        }
    }
  }
}

}  // namespace graft::gemm_variants
