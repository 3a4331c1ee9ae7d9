// src/tensor/gemm_cpu.cpp — the CPU entries of the GEMM table, and which CPUs can run them.
//
// The variants themselves are compiled in small libraries of their own with wider instruction
// sets (gemm_variants.h); this file is compiled with the build's own flags, because the code
// that registers a variant runs at start-up on every CPU, including those that lack the
// instructions the variant uses.
#include "tensor/gemm.h"
#include "tensor/gemm_variants.h"

namespace graft {

bool cpu_has_avx2_fma() {
#if defined(GRAFT_GEMM_X86_VARIANTS)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool cpu_has_avx512() {
#if defined(GRAFT_GEMM_X86_VARIANTS)
  return cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

GRAFT_REGISTER_KERNEL(kernels::gemm, CPU, "eigen", gemm_variants::gemm_baseline);
#if defined(GRAFT_GEMM_X86_VARIANTS)
GRAFT_REGISTER_KERNEL(kernels::gemm, CPU, "eigen_avx2", gemm_variants::gemm_eigen_avx2, 1, cpu_has_avx2_fma);
GRAFT_REGISTER_KERNEL(kernels::gemm, CPU, "avx2", gemm_variants::gemm_avx2, 2, cpu_has_avx2_fma);
GRAFT_REGISTER_KERNEL(kernels::gemm, CPU, "avx512", gemm_variants::gemm_avx512, 3, cpu_has_avx512);
#endif

}  // namespace graft
