// src/layers/dropout.h — inverted dropout.
//
//   training: mask_i = 1/(1-p) with probability 1-p, else 0;   y = x * mask;   dx = dy * mask
//   eval, or p = 0: y = x (the same tensor, no work);   p = 1: y = 0 (and dx = 0)
//   x, y, mask: any shape (the same).
// Design note: "inverted" means the 1/(1-p) scaling happens at training time, so E[y] = x and
// evaluation needs no rescaling. The mask comes from a graft Generator, so a fixed seed gives
// a fixed mask (not PyTorch's: random streams differ; see src/tensor/random.h).
#pragma once

#include "layers/module.h"
#include "tensor/dispatch.h"
#include "tensor/random.h"

namespace graft {

// Throws unless 0 <= p <= 1.
Tensor dropout(const Tensor& x, float p, bool training, Generator& gen = default_generator());

class Dropout : public Module {
 public:
  explicit Dropout(float p = 0.5f);
  std::string extra_repr() const override;
  float p;

 protected:
  Tensor forward(const Tensor& x) override;  // dropout(x, p, is_training())
};

namespace kernels {  // dropout_cpu.cpp, dropout.cu
// mask preallocated: mask[i] = 1/(1-p) with probability 1-p, else 0; drawn from gen
GRAFT_DECLARE_KERNEL(dropout_mask, void(Tensor& mask, float p, Generator& gen));
}  // namespace kernels

}  // namespace graft
