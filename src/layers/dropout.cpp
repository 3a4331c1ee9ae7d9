// src/layers/dropout.cpp — forward and backward of dropout() (see dropout.h).
#include "layers/dropout.h"

#include <cstdio>
#include <stdexcept>

#include "autograd/engine.h"
#include "tensor/elementwise.h"

namespace graft {

namespace {
void check_probability(const char* op, float p) {
  if (!(p >= 0.0f && p <= 1.0f)) {  // written so that NaN fails too
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s: dropout probability has to be between 0 and 1, got %g", op,
                  static_cast<double>(p));
    throw std::invalid_argument(buf);
  }
}
}  // namespace

Tensor dropout(const Tensor& x, float p, bool training, Generator& gen) {
  check_probability("dropout", p);
  if (!training || p == 0.0f) return x;  // identity: same tensor, gradients pass straight through

  // mask[i] = keep ? 1/(1-p) : 0 with keep ~ Bernoulli(1-p); p = 1 keeps nothing (no 1/0).
  const float keep_scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  Tensor mask = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.is_cuda()) {
    cuda::dropout_mask(mask, p, gen.next());
  } else {
    // Sequential on purpose: one generator stream, so the same seed gives the same mask.
    float* pm = mask.data();
    for (int64_t i = 0; i < mask.numel(); ++i) pm[i] = gen.uniform() >= p ? keep_scale : 0.0f;
  }
  Tensor y = mul(x, mask);
  return record(y, "dropout", {x}, [mask](const Tensor& gy) { return std::vector<Tensor>{mul(gy, mask)}; });
}

Dropout::Dropout(float p_) : Module("Dropout"), p(p_) { check_probability("Dropout", p); }

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training()); }

std::string Dropout::extra_repr() const {
  char buf[64];  // PyTorch: "p=0.5, inplace=False"
  std::snprintf(buf, sizeof buf, "p=%g, inplace=False", static_cast<double>(p));
  return buf;
}

}  // namespace graft
