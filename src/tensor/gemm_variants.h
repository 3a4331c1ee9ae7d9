// src/tensor/gemm_variants.h — the CPU GEMM compiled for several instruction sets.
//
// graft's default build is portable (no -march), so Eigen alone would only use SSE2. Instead
// the GEMM is compiled several times as small static libraries with their own flags, and each
// is an entry of the GEMM table (gemm.h, registered in gemm_cpu.cpp) that says which CPUs can
// run it:
//   eigen       Eigen (gemm_eigen.inc) with the build's flags — the reference in the tests  (rank 0)
//   eigen_avx2  the same Eigen code with -mavx2 -mfma (gemm_eigen_avx2.cpp)                  (rank 1)
//   avx2        graft's own GEMM with an AVX2+FMA 6x16 micro-kernel (gemm_avx2.cpp)         (rank 2)
//   avx512      graft's own GEMM with an AVX-512 12x32 micro-kernel (gemm_avx512.cpp),      (rank 3)
//               about twice Eigen's speed on convolution shapes
// graft's two kernels share one driver, gemm_packed.inc: the packed (BLIS-style) path, and for
// M <= 32 (a Linear layer on a batch of 8-32) a small-M path that streams B once instead of
// packing it (with B transposed only when K >= 5 M: use_small_m has the measurements). Both
// paths are exported alone (_packed, _small_m) so that the tests can check each. The packed
// paths of avx2 and avx512 run the same sequence of FMAs for every element of C (k in order
// within KC = 256 slices), so they agree bit for bit; the tile sizes differ.
//
// ODR: Eigen's templates are instantiated in every Eigen variant with different flags, and the
// linker keeps one arbitrary copy of identically named inline functions — it could run AVX2
// code on a CPU without it. So gemm_eigen_avx2.cpp renames Eigen's namespace (#define Eigen ...)
// before including it: its instantiations have different names and are never merged. graft's
// own kernels use no templates shared with other files (their helpers, gemm_packed.inc's
// included, are in anonymous namespaces: internal linkage, never merged). What
// remains shared is the standard library's small inline templates (std::min inside Eigen),
// which are always inlined at -O2 and above (`nm -C` on the two variant libraries: no weak
// symbols outside graft_eigen_avx2, so nothing there can replace a baseline copy).
// Each variant: C[M,N] = alpha * op(A) * op(B) + beta * C, row-major, M,N > 0, K >= 0.
#pragma once

#include <cstdint>

#include "tensor/cpu_isa.h"  // cpu_has_avx2_fma, cpu_has_avx512
#include "tensor/gemm_image.h"

namespace graft {

namespace gemm_variants {
void gemm_baseline(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   const float* B, float beta, float* C);
#if defined(GRAFT_GEMM_X86_VARIANTS)
void gemm_eigen_avx2(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                     const float* B, float beta, float* C);
// graft's own kernels (gemm_packed.inc): the variant, and its two paths alone for the tests.
void gemm_avx2(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               const float* B, float beta, float* C);
void gemm_avx2_packed(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                      const float* B, float beta, float* C);
void gemm_avx2_small_m(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                       const float* B, float beta, float* C);
// The packed path with B the column matrix of images, read where it lies (gemm_image.h).
void gemm_avx2_image(bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                     const ImageColumns& B, float beta, float* C);
void gemm_avx512(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 const float* B, float beta, float* C);
void gemm_avx512_packed(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                        const float* B, float beta, float* C);
void gemm_avx512_small_m(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                         const float* B, float beta, float* C);
// The packed path with B the column matrix of images, read where it lies (gemm_image.h).
void gemm_avx512_image(bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                       const ImageColumns& B, float beta, float* C);
#endif
}  // namespace gemm_variants

}  // namespace graft
