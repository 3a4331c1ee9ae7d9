// src/layers/dropout.cpp — forward and backward of dropout() (see dropout.h); the mask's kernels
// are dropout_cpu.cpp and dropout.cu.
#include "layers/dropout.h"

#include <cstdio>
#include <stdexcept>

#include "autograd/engine.h"
#include "tensor/check.h"
#include "tensor/elementwise.h"

namespace graft {

GRAFT_DEFINE_KERNEL(kernels::dropout_mask);

namespace {
void check_probability(const char* op, float p) {
  GRAFT_CHECK(p >= 0.0f && p <= 1.0f, op, "dropout probability has to be between 0 and 1, got ", p);  // NaN fails too
}
}  // namespace

Tensor dropout(const Tensor& x, float p, bool training, Generator& gen) {
  check_probability("dropout", p);
  if (!training || p == 0.0f) return x;  // identity: same tensor, gradients pass straight through

  Tensor mask = Tensor::empty(x.shape(), DType::Float32, x.device());
  kernels::dropout_mask(x.device(), mask, p, gen);
  Tensor y = mul(x, mask);
  return record("dropout", {x}, y, {mask}, [](const Ctx<>& ctx, const Tensor& gy) -> Grads {
    return {mul(gy, ctx.saved(0))};  // dx = dy * mask
  });
}

Dropout::Dropout(float p_) : Module("Dropout"), p(p_) { check_probability("Dropout", p); }

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training()); }

std::string Dropout::extra_repr() const {
  char buf[64];  // PyTorch: "p=0.5, inplace=False"
  std::snprintf(buf, sizeof buf, "p=%g, inplace=False", static_cast<double>(p));
  return buf;
}

}  // namespace graft
