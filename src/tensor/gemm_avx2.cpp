// src/tensor/gemm_avx2.cpp — graft's packed GEMM with an AVX2+FMA micro-kernel (compiled with
// -mavx2 -mfma, see meson.build; called only when the CPU has both). Row-major,
// C[M,N] = alpha * op(A) * op(B) + beta * C, as gemm_baseline.
//
// The 6x16 register tile that BLIS and OpenBLAS use on Haswell and Zen: 12 of the 16 ymm
// registers hold C's tile (6 rows x 2 vectors of 8), 2 hold a row of the packed B panel, and
// each k broadcasts 6 values of A: 12 FMAs per 2 loads + 6 broadcasts. The driver (packing,
// blocking, threads, the small-M path) is gemm_packed.inc, shared with the AVX-512 kernel
// (gemm_avx512.cpp); this file holds only what is AVX2. Edges of C are read and written with
// AVX2's masked loads and stores (masked-off lanes are never touched, so they cannot fault).
#include <immintrin.h>

#include "tensor/gemm_variants.h"

namespace graft::gemm_variants {

namespace {

// No standard-library templates (see gemm_avx512.cpp and gemm_variants.h).
int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

constexpr int64_t MR = 6;    // rows of C per micro-kernel call (6 broadcasts of A per k)
constexpr int64_t NR = 16;   // columns of C per micro-kernel call (2 ymm of B per k)
constexpr int64_t KC = 256;  // depth of one packed slice: the B panel is 16 KB, A's 6 KB (L1)
constexpr int64_t MC = 96;   // rows of C sharing one pass over a B panel (A block 96 KB, L2)

// The AVX2 lane mask for the first n of 8 lanes (n in 0..8): kLaneMask + 8 - n.
alignas(64) const int32_t kLaneMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
inline __m256i first_lanes(int64_t n) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLaneMask + 8 - (n < 0 ? 0 : n > 8 ? 8 : n)));
}

// dst[0..NR) = row[0..n), zeros after (n <= NR): one row of a packed B panel.
inline void pack_b_row(const float* row, int64_t n, float* dst) {
  if (n == NR) {
    _mm256_store_ps(dst, _mm256_loadu_ps(row));
    _mm256_store_ps(dst + 8, _mm256_loadu_ps(row + 8));
  } else {
    _mm256_store_ps(dst, _mm256_maskload_ps(row, first_lanes(n)));
    _mm256_store_ps(dst + 8, _mm256_maskload_ps(row + 8, first_lanes(n - 8)));
  }
}

// One row of a packed B panel read from images (gemm_image.h, gemm_packed.inc's ImageB):
// dst[l] = base[lanes.offset[l]] where the input row h0 + lanes.h[l] is in [0,H) and the column
// w0 + lanes.w[l] in [0,W), else 0; zeros for l >= n. Two halves of 8 lanes: the bounds as
// 0 <= i < H (two signed compares), then a masked gather — or, when the lanes' addresses are
// consecutive, a masked load. Masked-off lanes are never read.
inline __m256i inside(__m256i i, __m256i size) {  // all ones where 0 <= i < size
  return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), i), _mm256_cmpgt_epi32(size, i));
}
inline void pack_b_image_row(const float* base, const ImageAxis& lanes, int32_t h0, int32_t w0, int32_t H,
                             int32_t W, int64_t n, bool contiguous, float* dst) {
  const __m256i vH = _mm256_set1_epi32(H), vW = _mm256_set1_epi32(W);
  const __m256i vh0 = _mm256_set1_epi32(h0), vw0 = _mm256_set1_epi32(w0);
  for (int64_t half = 0; half < 2; ++half) {
    const int64_t l0 = half * 8;
    const __m256i ih = _mm256_add_epi32(vh0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lanes.h + l0)));
    const __m256i iw = _mm256_add_epi32(vw0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lanes.w + l0)));
    const __m256i valid = _mm256_and_si256(first_lanes(n - l0), _mm256_and_si256(inside(ih, vH), inside(iw, vW)));
    const __m256 v =
        contiguous ? _mm256_maskload_ps(base + lanes.offset[0] + l0, valid)
                   : _mm256_mask_i32gather_ps(_mm256_setzero_ps(), base,
                                              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lanes.offset + l0)),
                                              _mm256_castsi256_ps(valid), 4);
    _mm256_store_ps(dst + l0, v);
  }
}

// C[0..m, 0..n) = alpha * (Ap^T Bp) + beta * C over kc steps; Ap: [kc][MR], Bp: [kc][NR]
// (64-byte aligned). m <= MR, n <= NR; beta == 0 never reads C (it may be uninitialized).
void micro_kernel(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, int64_t m, int64_t n,
                  float alpha, float beta) {
  __m256 acc[MR][2];
#pragma GCC unroll 6
  for (int64_t i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(Bp), b1 = _mm256_load_ps(Bp + 8);
#pragma GCC unroll 6
    for (int64_t i = 0; i < MR; ++i) {
      const __m256 a = _mm256_broadcast_ss(Ap + i);
      acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
    }
    Ap += MR;
    Bp += NR;
  }
  // Every loop over acc is unrolled (compile-time indices): one indexed by a run-time i would
  // keep acc in memory, and the FMA loop above would store all 12 registers on every k.
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  const bool full = n == NR;
  const __m256i m0 = first_lanes(n), m1 = first_lanes(n - 8);
#pragma GCC unroll 6
  for (int64_t i = 0; i < MR; ++i) {
    if (i >= m) break;
    float* c = C + i * ldc;
    __m256 r0 = _mm256_mul_ps(va, acc[i][0]), r1 = _mm256_mul_ps(va, acc[i][1]);
    if (full) {
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), r0);
        r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), r1);
      }
      _mm256_storeu_ps(c, r0);
      _mm256_storeu_ps(c + 8, r1);
    } else {
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(c, m0), r0);
        r1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(c + 8, m1), r1);
      }
      _mm256_maskstore_ps(c, m0, r0);
      _mm256_maskstore_ps(c + 8, m1, r1);
    }
  }
}

// The small-M path's vectors (gemm_packed.inc): one ymm of 8 floats.
using vec = __m256;
constexpr int64_t VL = 8;
inline vec vzero() { return _mm256_setzero_ps(); }
inline vec vset1(float x) { return _mm256_set1_ps(x); }
inline vec vload(const float* p) { return _mm256_loadu_ps(p); }
inline vec vload_n(const float* p, int64_t n) { return _mm256_maskload_ps(p, first_lanes(n)); }
inline void vstore(float* p, vec v) { _mm256_storeu_ps(p, v); }
inline void vstore_n(float* p, vec v, int64_t n) { _mm256_maskstore_ps(p, first_lanes(n), v); }
inline vec vfma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float vsum(vec v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
constexpr int64_t DOT_MI = 4, DOT_NJ = 3;   // 12 ymm accumulators (16 registers in all)
constexpr int64_t AXPY_MI = 3, AXPY_NV = 4;  // 12 accumulators over 32 columns of C

}  // namespace

}  // namespace graft::gemm_variants

#define GRAFT_GEMM_FN gemm_avx2
#define GRAFT_GEMM_PACKED_FN gemm_avx2_packed
#define GRAFT_GEMM_SMALL_M_FN gemm_avx2_small_m
#define GRAFT_GEMM_IMAGE_FN gemm_avx2_image
#include "tensor/gemm_packed.inc"
