// src/layers/adaptive_avg_pool2d_cuda_stub.cpp — CUDA adaptive pooling in a CPU-only build: fail loudly.
#include "layers/adaptive_avg_pool2d.h"
#include "tensor/device.h"

namespace graft::cuda {
void adaptive_avg_pool2d_forward(const Tensor&, Tensor&) { not_built("adaptive_avg_pool2d"); }
void adaptive_avg_pool2d_backward(const Tensor&, Tensor&) { not_built("adaptive_avg_pool2d"); }
}  // namespace graft::cuda
