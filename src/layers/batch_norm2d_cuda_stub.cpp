// src/layers/batch_norm2d_cuda_stub.cpp — CUDA batch norm in a CPU-only build: fail loudly.
#include "layers/batch_norm2d.h"
#include "tensor/device.h"

namespace graft::cuda {
void batch_norm2d_forward_training(const Tensor&, const Tensor&, const Tensor&, Tensor&, Tensor&, float, float,
                                   Tensor&, Tensor&, Tensor&) {
  not_built("batch_norm2d");
}
void batch_norm2d_forward_inference(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, float,
                                    Tensor&) {
  not_built("batch_norm2d");
}
void batch_norm2d_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, float, Tensor&,
                           Tensor&, Tensor&) {
  not_built("batch_norm2d");
}
void increment_counter(int64_t*) { not_built("batch_norm2d (num_batches_tracked)"); }
}  // namespace graft::cuda
