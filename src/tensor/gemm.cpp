// src/tensor/gemm.cpp — the one device dispatch of the GEMM (see gemm.h), and on the CPU the
// choice of the instruction-set variant (see gemm_variants.h).
#include "tensor/gemm.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "tensor/gemm_variants.h"

namespace graft {

const char* gemm_isa_name(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::Avx2: return "avx2";
    case GemmIsa::Avx512: return "avx512";
    default: return "baseline";
  }
}

bool gemm_isa_supported(GemmIsa isa) {
  if (isa == GemmIsa::Baseline) return true;
#if defined(GRAFT_GEMM_X86_VARIANTS)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (isa == GemmIsa::Avx2) return avx2;
  return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

namespace {
GemmIsa pick_isa() {
  if (const char* forced = std::getenv("GRAFT_GEMM")) {
    const std::string name = forced;
    for (GemmIsa isa : {GemmIsa::Baseline, GemmIsa::Avx2, GemmIsa::Avx512})
      if (name == gemm_isa_name(isa)) {
        if (!gemm_isa_supported(isa))
          throw std::runtime_error("GRAFT_GEMM=" + name + ": this CPU or build lacks it; unset GRAFT_GEMM");
        return isa;
      }
    throw std::runtime_error("GRAFT_GEMM=" + name + ": expected baseline, avx2 or avx512");
  }
  if (gemm_isa_supported(GemmIsa::Avx512)) return GemmIsa::Avx512;
  if (gemm_isa_supported(GemmIsa::Avx2)) return GemmIsa::Avx2;
  return GemmIsa::Baseline;
}
}  // namespace

GemmIsa gemm_isa() {
  static const GemmIsa isa = pick_isa();  // checked once, thread-safe initialization
  return isa;
}

void gemm_cpu(GemmIsa isa, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float* A, const float* B, float beta, float* C) {
  if (!gemm_isa_supported(isa))
    throw std::invalid_argument(std::string("gemm_cpu: variant ") + gemm_isa_name(isa) +
                                " is not available on this CPU or build; check gemm_isa_supported() first");
  if (M == 0 || N == 0) return;
#if defined(GRAFT_GEMM_X86_VARIANTS)
  if (isa == GemmIsa::Avx512) return gemm_variants::gemm_avx512(trans_a, trans_b, M, N, K, alpha, A, B, beta, C);
  if (isa == GemmIsa::Avx2) return gemm_variants::gemm_avx2(trans_a, trans_b, M, N, K, alpha, A, B, beta, C);
#endif
  gemm_variants::gemm_baseline(trans_a, trans_b, M, N, K, alpha, A, B, beta, C);
}

void gemm(Device device, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, const float* B, float beta, float* C) {
  if (device == Device::CUDA) return cuda::gemm(trans_a, trans_b, M, N, K, alpha, A, B, beta, C);
  if (M == 0 || N == 0) return;
#if defined(GRAFT_GEMM_X86_VARIANTS)
  switch (gemm_isa()) {
    case GemmIsa::Avx512: return gemm_variants::gemm_avx512(trans_a, trans_b, M, N, K, alpha, A, B, beta, C);
    case GemmIsa::Avx2: return gemm_variants::gemm_avx2(trans_a, trans_b, M, N, K, alpha, A, B, beta, C);
    default: break;
  }
#endif
  gemm_variants::gemm_baseline(trans_a, trans_b, M, N, K, alpha, A, B, beta, C);
}

}  // namespace graft
