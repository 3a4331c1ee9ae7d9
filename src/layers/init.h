// src/layers/init.h — PyTorch's default parameter initializations.
//
// nn.Conv2d and nn.Linear call kaiming_uniform_(w, a=sqrt(5)), which works out to
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and draw the bias from the same bound. fan_in is
// in_features for Linear and C*R*S for Conv2d. So a fresh graft model starts like PyTorch's
// (same distributions; not the same random stream).
// Shapes: w is a weight [out, in] (Linear) or [K, C, R, S] (Conv2d), filled in place; b is
// the matching bias [out] or [K].
#pragma once

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace graft {

// w: [out, in, ...] -> fan_in = in * prod(...)
int64_t fan_in(const Tensor& w);
// kaiming_uniform_(w, a=sqrt(5)) as in PyTorch's reset_parameters.
void default_weight_init_(Tensor& w, Generator& gen = default_generator());
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
void default_bias_init_(Tensor& b, int64_t fan_in, Generator& gen = default_generator());
// torch.nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"), used by torchvision's
// ResNet and DenseNet constructors for their convolutions.
void kaiming_normal_fan_out_(Tensor& w, Generator& gen = default_generator());

}  // namespace graft
