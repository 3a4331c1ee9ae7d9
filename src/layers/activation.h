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

namespace graft {

Tensor relu(const Tensor& x);     // x: any shape -> y: same shape
Tensor sigmoid(const Tensor& x);  // x: any shape -> y: same shape

class ReLU : public Module {
 public:
  explicit ReLU(bool inplace = false);  // inplace only affects the repr: graft never overwrites x
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  bool inplace;
};

class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& x) override;
};

namespace cuda {  // y, gx preallocated by the caller with x's shape
void relu_forward(const Tensor& x, Tensor& y);
void relu_backward(const Tensor& y, const Tensor& gy, Tensor& gx);
void sigmoid_forward(const Tensor& x, Tensor& y);
void sigmoid_backward(const Tensor& y, const Tensor& gy, Tensor& gx);
}  // namespace cuda

}  // namespace graft
