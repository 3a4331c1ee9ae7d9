// src/optim/adam.cu — the fused Adam / AdamW update on the GPU (adam.h), one thread per element.
//
//   g += wd * p (Adam)  or  p *= 1 - lr * wd (AdamW);   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   (amsgrad: v_max = max(v_max, v), used in place of v)
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// The bias corrections are computed once on the host in double (as torch.optim does with Python
// floats, and as adam.cpp does) and passed in as floats; the element loop is adam.cpp's.
#include <cmath>

#include "optim/adam.h"
#include "tensor/cuda_launch.cuh"

namespace graft::cuda {

__global__ void adam_update_kernel(float* p, const float* g, float* m, float* v, float* v_max, int64_t n, float b1,
                                   float b2, float eps, float wd, bool decoupled, float step_size, float bc2_sqrt,
                                   float decay) {
  CUDA_KERNEL_LOOP(i, n) {
    float gi = g[i];
    if (wd != 0) {
      if (decoupled)
        p[i] *= decay;
      else
        gi = gi + wd * p[i];
    }
    m[i] = m[i] * b1 + (1 - b1) * gi;
    v[i] = v[i] * b2 + (1 - b2) * gi * gi;
    float vi = v[i];
    if (v_max) vi = v_max[i] = fmaxf(v_max[i], v[i]);
    const float denom = sqrtf(vi) / bc2_sqrt + eps;
    p[i] -= step_size * (m[i] / denom);
  }
}

void adam_update(float* p, const float* g, float* m, float* v, float* v_max, int64_t n, float lr, float b1, float b2,
                 float eps, float wd, bool decoupled, int64_t step) {
  if (n == 0) return;
  const double bias_correction1 = 1 - std::pow(static_cast<double>(b1), static_cast<double>(step));
  const double bias_correction2 = 1 - std::pow(static_cast<double>(b2), static_cast<double>(step));
  const float step_size = static_cast<float>(lr / bias_correction1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  const float decay = static_cast<float>(1 - static_cast<double>(lr) * wd);
  adam_update_kernel<<<grid_for(n), kThreads, 0, stream()>>>(p, g, m, v, v_max, n, b1, b2, eps, wd, decoupled,
                                                             step_size, bc2_sqrt, decay);
  CUDA_CHECK_LAUNCH("adam_update_kernel");
}

}  // namespace graft::cuda
