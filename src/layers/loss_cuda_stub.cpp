// src/layers/loss_cuda_stub.cpp — CUDA loss kernels in a CPU-only build: fail loudly.
#include "layers/loss.h"
#include "tensor/device.h"

namespace graft::cuda {
void nll_forward(const float*, const int64_t*, const float*, int64_t, int64_t, Reduction, float*, float*) {
  not_built("nll_forward");
}
void nll_backward(const int64_t*, const float*, const float*, const float*, int64_t, int64_t, Reduction, float*) {
  not_built("nll_backward");
}
void cross_entropy_forward(const float*, const int64_t*, const float*, int64_t, int64_t, Reduction, float*, float*,
                           float*, float*) {
  not_built("cross_entropy_forward");
}
void cross_entropy_backward(const float*, const float*, const float*, const int64_t*, const float*, const float*,
                            const float*, int64_t, int64_t, Reduction, float*) {
  not_built("cross_entropy_backward");
}
void bce_forward(const float*, const float*, const float*, int64_t, Reduction, float*) { not_built("bce_forward"); }
void bce_backward(const float*, const float*, const float*, const float*, int64_t, Reduction, float*) {
  not_built("bce_backward");
}
void bce_with_logits_forward(const float*, const float*, const float*, int64_t, int64_t, Reduction, float*) {
  not_built("bce_with_logits_forward");
}
void bce_with_logits_backward(const float*, const float*, const float*, const float*, int64_t, int64_t, Reduction,
                              float*) {
  not_built("bce_with_logits_backward");
}
}  // namespace graft::cuda
