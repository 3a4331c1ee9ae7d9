// src/tensor/gemm_cpu.cpp — the CPU entries of the GEMM table, and which CPUs can run them.
//
// The variants themselves are compiled in small libraries of their own with wider instruction
// sets (gemm_variants.h); this file is compiled with the build's own flags, because the code
// that registers a variant runs at start-up on every CPU, including those that lack the
// instructions the variant uses.
#include <cstdlib>
#include <cstring>
#include <string>

#include "tensor/check.h"
#include "tensor/gemm.h"
#include "tensor/gemm_image.h"
#include "tensor/gemm_variants.h"

namespace graft {

// GRAFT_MAX_ISA=avx2 (or sse2) caps what graft uses below what the CPU has, as oneDNN's
// ONEDNN_MAX_CPU_ISA does: every AVX-512 variant then counts as unsupported, so the automatic
// choice of every kernel table is its AVX2 (or baseline) code — the AVX2 path of an AVX2-only
// CPU, measured on an AVX-512 one. Read once; an unknown value is an error naming the choices.
int max_isa_level() {  // 2: AVX-512, 1: AVX2, 0: the build's flags
  static const int level = [] {
    const char* env = std::getenv("GRAFT_MAX_ISA");
    if (!env || !*env || std::strcmp(env, "avx512") == 0) return 2;
    if (std::strcmp(env, "avx2") == 0) return 1;
    if (std::strcmp(env, "sse2") == 0 || std::strcmp(env, "baseline") == 0) return 0;
    GRAFT_FAIL_DATA("", "GRAFT_MAX_ISA='", env, "': use avx512, avx2 or sse2");
  }();
  return level;
}

bool cpu_has_avx2_fma() {
#if defined(GRAFT_GEMM_X86_VARIANTS)
  __builtin_cpu_init();
  return max_isa_level() >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool cpu_has_avx512() {
#if defined(GRAFT_GEMM_X86_VARIANTS)
  return max_isa_level() >= 2 && cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
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

// gemm_image.h: the implicit GEMM follows the GEMM variant selected now, so that
// GRAFT_KERNELS=gemm=avx2 times the AVX2 kernel for both, and gemm=eigen the explicit im2col.
namespace {
using ImageGemmFn = void (*)(bool, int64_t, int64_t, int64_t, float, const float*, const ImageColumns&, float, float*);
ImageGemmFn image_gemm() {
#if defined(GRAFT_GEMM_X86_VARIANTS)
  const std::string v = kernels::gemm.variant(Device::CPU);
  if (v == "avx512") return gemm_variants::gemm_avx512_image;
  if (v == "avx2") return gemm_variants::gemm_avx2_image;
#endif
  return nullptr;  // Eigen packs its own B: it has no form that reads images
}
}  // namespace

float ImageColumns::at(int64_t t, int64_t u) const {
  const int32_t ih = tap.h[t] + pixel.h[u], iw = tap.w[t] + pixel.w[u];
  return ih >= 0 && ih < H && iw >= 0 && iw < W ? x[tap.offset[t] + pixel.offset[u]] : 0.0f;
}

bool gemm_reads_image_columns() { return image_gemm() != nullptr; }

void gemm_image_columns(bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                        const ImageColumns& B, float beta, float* C) {
  const ImageGemmFn fn = image_gemm();
  GRAFT_ASSERT(fn != nullptr, "gemm_image_columns", "the GEMM selected (", kernels::gemm.variant(Device::CPU),
               ") cannot read image columns; check gemm_reads_image_columns() first");
  if (M == 0 || N == 0) return;
  fn(trans_b, M, N, K, alpha, A, B, beta, C);
}

}  // namespace graft
