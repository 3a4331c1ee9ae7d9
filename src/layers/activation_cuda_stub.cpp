// src/layers/activation_cuda_stub.cpp — CUDA activations in a CPU-only build: fail loudly.
#include "layers/activation.h"
#include "tensor/device.h"

namespace graft::cuda {
void relu_forward(const Tensor&, Tensor&) { not_built("relu"); }
void relu_backward(const Tensor&, const Tensor&, Tensor&) { not_built("relu"); }
void sigmoid_forward(const Tensor&, Tensor&) { not_built("sigmoid"); }
void sigmoid_backward(const Tensor&, const Tensor&, Tensor&) { not_built("sigmoid"); }
}  // namespace graft::cuda
