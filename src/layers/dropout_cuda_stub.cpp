// src/layers/dropout_cuda_stub.cpp — CUDA dropout in a CPU-only build: fail loudly.
#include "layers/dropout.h"
#include "tensor/device.h"

namespace graft::cuda {
void dropout_mask(Tensor&, float, uint64_t) { not_built("dropout"); }
}  // namespace graft::cuda
