// src/optim/sgd.h — stochastic gradient descent with momentum, as torch.optim.SGD.
//
//   d = g + wd * p                              (weight decay, L2 added to the gradient)
//   buf = d                      on the first step (no dampening yet: PyTorch's rule)
//   buf = momentum * buf + (1 - dampening) * d  afterwards
//   d = d + momentum * buf  (nesterov)   or   d = buf   (classic momentum)
//   p = p - lr * d
// With momentum 0 there is no buffer and the update is p -= lr * (g + wd * p).
// Shapes: p, its gradient g and buf have the same shape (any); the update is elementwise.
// Design note: one fused pass per parameter, no temporaries. The per-element formula is
// sgd_element() below, compiled for both devices; the loops are sgd_cpu.cpp and sgd.cu.
#pragma once

#include "optim/optimizer.h"
#include "tensor/dispatch.h"
#include "tensor/host_device.h"

namespace graft {

class SGD : public Optimizer {
 public:
  // lr and weight decay come from each group.
  explicit SGD(std::vector<ParamGroup> groups, float momentum = 0, float dampening = 0, bool nesterov = false);
  SGD(std::vector<Tensor> params, float lr, float momentum = 0, float dampening = 0, float weight_decay = 0,
      bool nesterov = false);

  void step() override;
  NamedTensors state() const override;  // buffers: "momentum_buffer"
  void load_state(const NamedTensors& state) override;
  bool has_momentum() const override { return true; }
  float momentum_coefficient() const override { return momentum; }
  void set_momentum_coefficient(float m) override { momentum = m; }

  float momentum, dampening;
  bool nesterov;
};

// The settings of one parameter's update.
struct SgdStep {
  float lr, momentum, dampening, weight_decay;
  bool nesterov;
  bool first;  // buf holds garbage and must be set to d (PyTorch's first step)
};

// One element, in torch.optim.SGD's order of operations. buf is unused when momentum == 0.
GRAFT_HOST_DEVICE inline void sgd_element(float& p, float g, float* buf, const SgdStep& s) {
  float d = s.weight_decay != 0 ? g + s.weight_decay * p : g;
  if (s.momentum != 0) {
    *buf = s.first ? d : *buf * s.momentum + (1 - s.dampening) * d;
    d = s.nesterov ? d + s.momentum * *buf : *buf;
  }
  p -= s.lr * d;
}

namespace kernels {  // sgd_cpu.cpp, sgd.cu; buf is undefined when momentum == 0
GRAFT_DECLARE_KERNEL(sgd_update, void(Tensor& param, const Tensor& grad, Tensor& buf, const SgdStep& s));
}  // namespace kernels

}  // namespace graft
