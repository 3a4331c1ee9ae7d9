// src/tensor/gemm_avx512.cpp — graft's packed GEMM with an AVX-512 micro-kernel (compiled with
// -mavx512f -mavx512bw -mavx512vl -mavx2 -mfma, see meson.build; called only when the CPU has
// them). Row-major, C[M,N] = alpha * op(A) * op(B) + beta * C, as gemm_baseline.
//
// This file holds what is AVX-512: the 12x32 register tile (24 of the 32 zmm registers as
// accumulators, 12 broadcasts of A and 2 loads of B per k), the packing of one B row, and the
// vector helpers of the small-M path. The driver — packing, blocking, threads, the transposed
// route for few columns, the small-M path for Linear layers — is gemm_packed.inc, shared with
// the AVX2 kernel (gemm_avx2.cpp).
//
// Why not Eigen here: Eigen's AVX-512 kernel reached ~40% of one core's peak on the
// convolution shapes (77 GFLOP/s where oneDNN reaches ~150); this kernel keeps the packed
// panels in L1/L2 and reaches about twice that.
#include <immintrin.h>

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

// dst[0..NR) = row[0..n), zeros after (n <= NR): one row of a packed B panel.
inline void pack_b_row(const float* row, int64_t n, float* dst) {
  const __mmask16 m0 = n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1);
  const __mmask16 m1 = n >= 32 ? 0xFFFF : n <= 16 ? 0 : static_cast<__mmask16>((1u << (n - 16)) - 1);
  _mm512_store_ps(dst, _mm512_maskz_loadu_ps(m0, row));
  _mm512_store_ps(dst + 16, _mm512_maskz_loadu_ps(m1, row + 16));
}

// One row of a packed B panel read from images (gemm_image.h, gemm_packed.inc's ImageB):
// dst[l] = base[lanes.offset[l]] where the input row h0 + lanes.h[l] is in [0,H) and the column
// w0 + lanes.w[l] in [0,W), else 0; zeros for l >= n. Two halves of 16 lanes: the bounds as one
// unsigned compare each (a negative row is a huge unsigned one), then a masked gather — or,
// when the lanes' addresses are consecutive, a masked load. Masked-off lanes are never read.
inline void pack_b_image_row(const float* base, const ImageAxis& lanes, int32_t h0, int32_t w0, int32_t H,
                             int32_t W, int64_t n, bool contiguous, float* dst) {
  const __m512i vH = _mm512_set1_epi32(H), vW = _mm512_set1_epi32(W);
  const __m512i vh0 = _mm512_set1_epi32(h0), vw0 = _mm512_set1_epi32(w0);
  for (int64_t half = 0; half < 2; ++half) {
    const int64_t l0 = half * 16;
    const __mmask16 first = n - l0 >= 16 ? 0xFFFF : n - l0 <= 0 ? 0 : static_cast<__mmask16>((1u << (n - l0)) - 1);
    const __m512i ih = _mm512_add_epi32(vh0, _mm512_loadu_si512(lanes.h + l0));
    const __m512i iw = _mm512_add_epi32(vw0, _mm512_loadu_si512(lanes.w + l0));
    const __mmask16 valid = first & _mm512_cmplt_epu32_mask(ih, vH) & _mm512_cmplt_epu32_mask(iw, vW);
    const __m512 v = contiguous ? _mm512_maskz_loadu_ps(valid, base + lanes.offset[0] + l0)
                                : _mm512_mask_i32gather_ps(_mm512_setzero_ps(), valid,
                                                           _mm512_loadu_si512(lanes.offset + l0), base, 4);
    _mm512_store_ps(dst + l0, v);
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

// The small-M path's vectors (gemm_packed.inc): one zmm of 16 floats.
using vec = __m512;
constexpr int64_t VL = 16;
inline vec vzero() { return _mm512_setzero_ps(); }
inline vec vset1(float x) { return _mm512_set1_ps(x); }
inline vec vload(const float* p) { return _mm512_loadu_ps(p); }
// The mask of the first n of 16 lanes; n <= 0 (a vector wholly past the last column) gives none.
inline __mmask16 first_lanes(int64_t n) {
  return n <= 0 ? 0 : n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1);
}
inline vec vload_n(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(first_lanes(n), p); }
inline void vstore(float* p, vec v) { _mm512_storeu_ps(p, v); }
inline void vstore_n(float* p, vec v, int64_t n) { _mm512_mask_storeu_ps(p, first_lanes(n), v); }
inline vec vfma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float vsum(vec v) { return _mm512_reduce_add_ps(v); }
constexpr int64_t DOT_MI = 4, DOT_NJ = 4;   // 16 zmm accumulators, 4 + 4 loads per 16 FMAs
constexpr int64_t AXPY_MI = 4, AXPY_NV = 4;  // 16 accumulators over 64 columns of C

}  // namespace

}  // namespace graft::gemm_variants

#define GRAFT_GEMM_FN gemm_avx512
#define GRAFT_GEMM_PACKED_FN gemm_avx512_packed
#define GRAFT_GEMM_SMALL_M_FN gemm_avx512_small_m
#define GRAFT_GEMM_IMAGE_FN gemm_avx512_image
#include "tensor/gemm_packed.inc"
