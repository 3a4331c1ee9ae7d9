// src/layers/basic.h — modules that only reshape or pass their input through.
//
//   Flatten:  x: [N, d1, d2, ...] -> y: [N, d1*d2*...]   (nn.Flatten(start_dim=1))
//   Identity: y = x                                        (nn.Identity)
// Design note: Identity is what a transfer-learning script puts in place of a classifier head
// (model.fc = nn.Identity()) to get features; it returns the very same tensor.
#pragma once

#include "layers/module.h"

namespace graft {

class Flatten : public Module {
 public:
  Flatten() : Module("Flatten") {}
  std::string extra_repr() const override { return "start_dim=1, end_dim=-1"; }

 protected:
  Tensor forward(const Tensor& x) override;  // graft::flatten (autograd/ops.h)
};

class Identity : public Module {
 public:
  Identity() : Module("Identity") {}

 protected:
  Tensor forward(const Tensor& x) override { return x; }
};

}  // namespace graft
