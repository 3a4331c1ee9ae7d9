// src/layers/pool2d_cuda_stub.cpp — cuDNN pooling in a CPU-only build: fail loudly.
#include "layers/pool2d.h"
#include "tensor/device.h"

namespace graft::cuda {
void max_pool2d_forward(const Tensor&, Tensor&, const Pool2dParams&) { not_built("max_pool2d"); }
void max_pool2d_backward(const Tensor&, const Tensor&, const Tensor&, Tensor&, const Pool2dParams&) {
  not_built("max_pool2d");
}
void avg_pool2d_forward(const Tensor&, Tensor&, const Pool2dParams&) { not_built("avg_pool2d"); }
void avg_pool2d_backward(const Tensor&, const Tensor&, const Tensor&, Tensor&, const Pool2dParams&) {
  not_built("avg_pool2d");
}
}  // namespace graft::cuda
