// src/layers/bias_cuda_stub.cpp — CUDA bias kernels in a CPU-only build: fail loudly.
#include "layers/bias.h"
#include "tensor/device.h"

namespace graft::cuda {
void add_bias(float*, const float*, int64_t, int64_t, int64_t) { not_built("add_bias"); }
void bias_grad(const float*, float*, int64_t, int64_t, int64_t) { not_built("bias_grad"); }
}  // namespace graft::cuda
