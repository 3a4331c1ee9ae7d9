// src/layers/concat_cuda_stub.cpp — CUDA channel copy in a CPU-only build: fail loudly.
#include "layers/concat.h"
#include "tensor/device.h"

namespace graft::cuda {
void channel_copy(const float*, int64_t, int64_t, float*, int64_t, int64_t, int64_t, int64_t, int64_t) {
  not_built("concat_channels");
}
}  // namespace graft::cuda
