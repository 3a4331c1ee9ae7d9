// src/optim/sgd.cu — the fused SGD update on the GPU (sgd.h), one thread per element.
//
//   d = g + wd * p;   buf = first ? d : momentum * buf + (1 - dampening) * d
//   d = nesterov ? d + momentum * buf : buf;   p -= lr * d
// Everything for one parameter happens in one pass over p, g and buf: no temporaries, one
// launch per parameter tensor. The order of operations is sgd.cpp's (torch.optim.SGD's).
#include "optim/sgd.h"
#include "tensor/cuda_launch.cuh"

namespace graft::cuda {

__global__ void sgd_update_kernel(float* p, const float* g, float* buf, int64_t n, float lr, float momentum,
                                  float dampening, float wd, bool nesterov, bool first) {
  CUDA_KERNEL_LOOP(i, n) {
    float d = wd != 0 ? g[i] + wd * p[i] : g[i];
    if (momentum != 0) {
      buf[i] = first ? d : buf[i] * momentum + (1 - dampening) * d;
      d = nesterov ? d + momentum * buf[i] : buf[i];
    }
    p[i] -= lr * d;
  }
}

void sgd_update(float* p, const float* g, float* buf, int64_t n, float lr, float momentum, float dampening,
                float wd, bool nesterov, bool first) {
  if (n == 0) return;
  sgd_update_kernel<<<grid_for(n), kThreads, 0, stream()>>>(p, g, buf, n, lr, momentum, dampening, wd, nesterov,
                                                            first);
  CUDA_CHECK_LAUNCH("sgd_update_kernel");
}

}  // namespace graft::cuda
