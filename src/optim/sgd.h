// src/optim/sgd.h — stochastic gradient descent with momentum, as torch.optim.SGD.
//
//   d = g + wd * p                              (weight decay, L2 added to the gradient)
//   buf = d                      on the first step (no dampening yet: PyTorch's rule)
//   buf = momentum * buf + (1 - dampening) * d  afterwards
//   d = d + momentum * buf  (nesterov)   or   d = buf   (classic momentum)
//   p = p - lr * d
// With momentum 0 there is no buffer and the update is p -= lr * (g + wd * p).
// Shapes: p, its gradient g and buf have the same shape (any); the update is elementwise.
// Design note: one fused loop per parameter (CPU here, a CUDA kernel in sgd.cu), dispatched
// on the parameter's device, so no temporaries are allocated per step.
#pragma once

#include "optim/optimizer.h"

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

  float momentum, dampening;
  bool nesterov;
};

namespace cuda {
// p, g, buf: n floats on the device; buf is unused (may be null) when momentum == 0.
// first: buf holds garbage and must be set to d (PyTorch's first step).
void sgd_update(float* p, const float* g, float* buf, int64_t n, float lr, float momentum, float dampening, float wd,
                bool nesterov, bool first);
}  // namespace cuda

}  // namespace graft
