// src/layers/activation.cpp — forward and backward of relu() and sigmoid() (see activation.h);
// kernels: activation_cpu.cpp, activation.cu.
#include "layers/activation.h"

#include "autograd/engine.h"

namespace graft {

GRAFT_DEFINE_KERNELS(relu_forward, relu_backward, sigmoid_forward, sigmoid_backward);

Tensor relu(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  kernels::relu_forward(x.device(), x, y);
  return record("relu", {x}, y, {y}, [](const Ctx<>& ctx, const Tensor& gy) -> Grads {
    const Tensor& y = ctx.saved(0);
    Tensor gx = Tensor::empty(y.shape(), DType::Float32, gy.device());
    kernels::relu_backward(gy.device(), y, gy, gx);  // dx = dy where y > 0
    return {gx};
  });
}

Tensor sigmoid(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  kernels::sigmoid_forward(x.device(), x, y);
  return record("sigmoid", {x}, y, {y}, [](const Ctx<>& ctx, const Tensor& gy) -> Grads {
    const Tensor& y = ctx.saved(0);
    Tensor gx = Tensor::empty(y.shape(), DType::Float32, gy.device());
    kernels::sigmoid_backward(gy.device(), y, gy, gx);  // dx = dy * y * (1 - y)
    return {gx};
  });
}

ReLU::ReLU(bool inplace_) : Module("ReLU"), inplace(inplace_) {}
Tensor ReLU::forward(const Tensor& x) { return relu(x); }
std::string ReLU::extra_repr() const { return inplace ? "inplace=True" : ""; }

Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }

}  // namespace graft
