// src/optim/adam_cpu.cpp — the Adam / AdamW update on the CPU: adam_element() over the parameter.
#include "optim/adam.h"

namespace graft {
namespace {

void adam_update_cpu(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, Tensor& max_exp_avg_sq,
                     const AdamStep& s) {
  const int64_t n = param.numel();
  float *p = param.data(), *m = exp_avg.data(), *v = exp_avg_sq.data();
  float* v_max = max_exp_avg_sq.defined() ? max_exp_avg_sq.data() : nullptr;
  const float* g = grad.data();
#pragma omp parallel for if (n > 32768)
  for (int64_t i = 0; i < n; ++i) adam_element(p[i], g[i], m[i], v[i], v_max ? v_max + i : nullptr, s);
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::adam_update, CPU, kIsa, adam_update_cpu);

}  // namespace graft
