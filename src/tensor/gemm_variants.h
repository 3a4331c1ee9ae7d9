// src/tensor/gemm_variants.h — the CPU GEMM compiled for several instruction sets, picked at
// run time.
//
// graft's default build is portable (no -march), so Eigen would only use SSE2. Instead the
// GEMM is compiled several times as small static libraries with their own flags, and
// graft::gemm calls the widest one the CPU supports (__builtin_cpu_supports, checked once):
//   baseline  Eigen (gemm_eigen.inc) with the build's flags — the reference in the tests
//   avx2      the same Eigen code with -mavx2 -mfma
//   avx512    graft's own packed GEMM with an AVX-512 micro-kernel (gemm_avx512.cpp), about
//             twice Eigen's speed on convolution shapes
// GRAFT_GEMM=baseline|avx2|avx512 in the environment forces one (an unsupported one throws).
//
// ODR: Eigen's templates are instantiated in every Eigen variant with different flags, and the
// linker keeps one arbitrary copy of identically named inline functions — it could run AVX2
// code on a CPU without it. So gemm_avx2.cpp renames Eigen's namespace (#define Eigen ...)
// before including it: its instantiations have different names and are never merged. The
// AVX-512 kernel uses no templates shared with other files (its helpers are file-local). What
// remains shared is the standard library's small inline templates (std::min inside Eigen),
// which are always inlined at -O2 and above (`nm -C` on the two variant libraries: no weak
// symbols outside graft_eigen_avx2, so nothing there can replace a baseline copy).
// Each variant: C[M,N] = alpha * op(A) * op(B) + beta * C, row-major, M,N > 0, K >= 0.
#pragma once

#include <cstdint>

namespace graft {

enum class GemmIsa { Baseline, Avx2, Avx512 };

// "baseline", "avx2", "avx512".
const char* gemm_isa_name(GemmIsa isa);
// Whether this build has the variant and this CPU can run it.
bool gemm_isa_supported(GemmIsa isa);
// The variant graft::gemm uses (the widest supported, or $GRAFT_GEMM).
GemmIsa gemm_isa();
// Runs one variant directly (tests compare them); throws if unsupported.
void gemm_cpu(GemmIsa isa, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float* A, const float* B, float beta, float* C);

namespace gemm_variants {
void gemm_baseline(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   const float* B, float beta, float* C);
#if defined(GRAFT_GEMM_X86_VARIANTS)
void gemm_avx2(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               const float* B, float beta, float* C);
void gemm_avx512(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 const float* B, float beta, float* C);
#endif
}  // namespace gemm_variants

}  // namespace graft
