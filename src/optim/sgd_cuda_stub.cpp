// src/optim/sgd_cuda_stub.cpp — the fused CUDA SGD update in a CPU-only build: fail loudly.
#include "optim/sgd.h"
#include "tensor/device.h"

namespace graft::cuda {
void sgd_update(float*, const float*, float*, int64_t, float, float, float, float, bool, bool) {
  not_built("sgd_update");
}
}  // namespace graft::cuda
