// src/tensor/gemm.cpp — the GEMM table (see gemm.h). The entries are registered by
// gemm_cpu.cpp (the CPU variants) and gemm_cublas.cpp.
#include "tensor/gemm.h"

namespace graft {

GRAFT_DEFINE_KERNEL(kernels::gemm);

void gemm(Device device, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          const float* B, float beta, float* C) {
  if (M == 0 || N == 0) return;
  kernels::gemm(device, trans_a, trans_b, M, N, K, alpha, A, B, beta, C);
}

}  // namespace graft
