// src/layers/dropout_cpu.cpp — the dropout mask on the CPU (dropout.h).
//
//   mask[i] = keep ? 1/(1-p) : 0 with keep ~ Bernoulli(1-p); p = 1 keeps nothing (no 1/0).
// Sequential on purpose: one generator stream, so the same seed gives the same mask.
#include "layers/dropout.h"

namespace graft {
namespace {

void dropout_mask_cpu(Tensor& mask, float p, Generator& gen) {
  const float keep_scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  float* pm = mask.data();
  for (int64_t i = 0; i < mask.numel(); ++i) pm[i] = gen.uniform() >= p ? keep_scale : 0.0f;
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::dropout_mask, CPU, "reference", dropout_mask_cpu);

}  // namespace graft
