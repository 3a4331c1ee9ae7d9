// src/layers/softmax_cuda_stub.cpp — CUDA softmax in a CPU-only build: fail loudly.
#include "layers/softmax.h"
#include "tensor/device.h"

namespace graft::cuda {
void softmax_forward(const Tensor&, Tensor&) { not_built("softmax"); }
void softmax_backward(const Tensor&, const Tensor&, Tensor&) { not_built("softmax"); }
void log_softmax_forward(const Tensor&, Tensor&) { not_built("log_softmax"); }
void log_softmax_backward(const Tensor&, const Tensor&, Tensor&) { not_built("log_softmax"); }
}  // namespace graft::cuda
