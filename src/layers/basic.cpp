// src/layers/basic.cpp — see basic.h.
#include "layers/basic.h"

#include "autograd/ops.h"

namespace graft {

Tensor Flatten::forward(const Tensor& x) { return flatten(x); }

}  // namespace graft
