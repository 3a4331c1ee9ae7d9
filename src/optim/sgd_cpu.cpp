// src/optim/sgd_cpu.cpp — the SGD update on the CPU: sgd_element() over the parameter.
#include "optim/sgd.h"

namespace graft {
namespace {

void sgd_update_cpu(Tensor& param, const Tensor& grad, Tensor& buffer, const SgdStep& s) {
  const int64_t n = param.numel();
  float* p = param.data();
  const float* g = grad.data();
  float* buf = buffer.defined() ? buffer.data() : nullptr;
#pragma omp parallel for if (n > 32768)
  for (int64_t i = 0; i < n; ++i) sgd_element(p[i], g[i], buf ? buf + i : nullptr, s);
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::sgd_update, CPU, kIsa, sgd_update_cpu);

}  // namespace graft
