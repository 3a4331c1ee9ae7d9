// src/optim/sgd.cu — the SGD update on the GPU: sgd_element() (sgd.h), one thread per element,
// one launch per parameter tensor.
#include "optim/sgd.h"
#include "tensor/cuda_launch.cuh"

namespace graft::cuda {
namespace {

__global__ void sgd_update_kernel(float* p, const float* g, float* buf, int64_t n, SgdStep s) {
  CUDA_KERNEL_LOOP(i, n) sgd_element(p[i], g[i], buf ? buf + i : nullptr, s);
}

void sgd_update_cuda(Tensor& param, const Tensor& grad, Tensor& buffer, const SgdStep& s) {
  const int64_t n = param.numel();
  if (n == 0) return;
  sgd_update_kernel<<<grid_for(n), kThreads, 0, stream()>>>(param.data(), grad.data(),
                                                            buffer.defined() ? buffer.data() : nullptr, n, s);
  CUDA_CHECK_LAUNCH("sgd_update_kernel");
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::sgd_update, CUDA, "cuda", sgd_update_cuda);

}  // namespace graft::cuda
