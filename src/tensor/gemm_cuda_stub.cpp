// src/tensor/gemm_cuda_stub.cpp — cuBLAS GEMM in a CPU-only build: fails loudly.
#include "tensor/device.h"
#include "tensor/gemm.h"

namespace graft::cuda {
void gemm(bool, bool, int64_t, int64_t, int64_t, float, const float*, const float*, float, float*) {
  not_built("gemm (cuBLAS)");
}
}  // namespace graft::cuda
