// src/optim/adam.cu — the Adam / AdamW update on the GPU: adam_element() (adam.h), one thread
// per element, one launch per parameter tensor. The bias corrections come in the AdamStep,
// computed on the host in double as torch.optim does.
#include "optim/adam.h"
#include "tensor/cuda_launch.cuh"

namespace graft::cuda {
namespace {

__global__ void adam_update_kernel(float* p, const float* g, float* m, float* v, float* v_max, int64_t n, AdamStep s) {
  CUDA_KERNEL_LOOP(i, n) adam_element(p[i], g[i], m[i], v[i], v_max ? v_max + i : nullptr, s);
}

void adam_update_cuda(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, Tensor& max_exp_avg_sq,
                      const AdamStep& s) {
  const int64_t n = param.numel();
  if (n == 0) return;
  adam_update_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
      param.data(), grad.data(), exp_avg.data(), exp_avg_sq.data(),
      max_exp_avg_sq.defined() ? max_exp_avg_sq.data() : nullptr, n, s);
  CUDA_CHECK_LAUNCH("adam_update_kernel");
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::adam_update, CUDA, "cuda", adam_update_cuda);

}  // namespace graft::cuda
