// src/optim/adam_cuda_stub.cpp — the fused CUDA Adam update in a CPU-only build: fail loudly.
#include "optim/adam.h"
#include "tensor/device.h"

namespace graft::cuda {
void adam_update(float*, const float*, float*, float*, float*, int64_t, float, float, float, float, float, bool,
                 int64_t) {
  not_built("adam_update");
}
}  // namespace graft::cuda
