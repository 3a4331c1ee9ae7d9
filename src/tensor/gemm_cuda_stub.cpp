// src/tensor/gemm_cuda_stub.cpp — cuBLAS GEMM in a CPU-only build: fails loudly.
#include "tensor/device.h"
#include "tensor/gemm.h"

namespace graft::cuda {
void gemm(bool, bool, int64_t, int64_t, int64_t, float, const float*, const float*, float, float*) {
  not_built("gemm (cuBLAS)");
}

// The TF32 switch is only a flag; remembering it in a CPU build is harmless (no GPU math here).
namespace {
bool g_allow_tf32 = false;
}
void set_allow_tf32(bool on) { g_allow_tf32 = on; }
bool allow_tf32() { return g_allow_tf32; }
}  // namespace graft::cuda
