// src/layers/activation.h — elementwise nonlinearities: ReLU and sigmoid.
//
//   relu:    y = max(x, 0)              dy/dx = 1 where y > 0, else 0
//   sigmoid: y = 1 / (1 + exp(-x))      dy/dx = y * (1 - y)
//   x, y: any shape (the same).
// Design note: both backward passes read the OUTPUT y, not the input, so the forward keeps only
// y alive (which the next layer keeps anyway). Sigmoid is computed as exp(x)/(1+exp(x)) for
// negative x so that exp never overflows: sigmoid(-100) is 3.7e-44, not 0/inf.
#pragma once

#include "layers/module.h"
#include "tensor/dispatch.h"

namespace graft {

Tensor relu(const Tensor& x);     // x: any shape -> y: same shape
Tensor sigmoid(const Tensor& x);  // x: any shape -> y: same shape

class ReLU : public Module {
 public:
  explicit ReLU(bool inplace = false);  // inplace only affects the repr: graft never overwrites x
  std::string extra_repr() const override;
  bool inplace;

 protected:
  Tensor forward(const Tensor& x) override;
};

class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}

 protected:
  Tensor forward(const Tensor& x) override;
};

namespace kernels {  // activation_cpu.cpp, activation.cu; y, gx preallocated with x's shape
GRAFT_DECLARE_KERNEL(relu_forward, void(const Tensor& x, Tensor& y));
GRAFT_DECLARE_KERNEL(relu_backward, void(const Tensor& y, const Tensor& gy, Tensor& gx));
GRAFT_DECLARE_KERNEL(sigmoid_forward, void(const Tensor& x, Tensor& y));
GRAFT_DECLARE_KERNEL(sigmoid_backward, void(const Tensor& y, const Tensor& gy, Tensor& gx));
}  // namespace kernels

}  // namespace graft
