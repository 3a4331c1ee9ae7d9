// src/layers/bias.cpp — checks and dispatch for bias.h (kernels: bias_cpu.cpp, bias.cu).
#include "layers/bias.h"

namespace graft {

GRAFT_DEFINE_KERNELS(add_bias, bias_grad);

void add_bias_(Tensor& y, const Tensor& bias) {
  check_shape("add_bias_", "bias", bias, {y.size(1)});
  check_same_device("add_bias_", y, bias);
  kernels::add_bias(y.device(), y, bias);
}

Tensor bias_grad(const Tensor& gy, int64_t C) {
  Tensor gb = Tensor::empty({C}, DType::Float32, gy.device());
  kernels::bias_grad(gy.device(), gy, gb);
  return gb;
}

}  // namespace graft
