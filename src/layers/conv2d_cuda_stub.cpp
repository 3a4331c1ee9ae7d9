// src/layers/conv2d_cuda_stub.cpp — cuDNN convolution in a CPU-only build: fail loudly.
#include "layers/conv2d.h"
#include "tensor/device.h"

namespace graft::cuda {
void conv2d_forward(const Tensor&, const Tensor&, Tensor&, const Conv2dParams&) { not_built("conv2d"); }
void conv2d_backward_input(const Tensor&, const Tensor&, Tensor&, const Conv2dParams&) { not_built("conv2d"); }
void conv2d_backward_weight(const Tensor&, const Tensor&, Tensor&, const Conv2dParams&) { not_built("conv2d"); }
}  // namespace graft::cuda
