// src/layers/bias.h — adding a per-channel bias, and its gradient. Shared by Linear and Conv2d.
//
//   y: [N, C, ...] (any trailing dims, "inner" = their product), b: [C]
//   forward: y[n,c,i] += b[c]        backward: db[c] = sum over n,i of dy[n,c,i]
// Not an op of its own (no autograd): Linear and Conv2d call these inside theirs.
#pragma once

#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace graft {

void add_bias_(Tensor& y, const Tensor& bias);             // y: [N,C,...], bias: [C]
Tensor bias_grad(const Tensor& grad_y, int64_t channels);  // grad_y: [N,C,...] -> [C]

namespace kernels {  // bias_cpu.cpp, bias.cu
GRAFT_DECLARE_KERNEL(add_bias, void(Tensor& y, const Tensor& bias));          // y: [N,C,...] += b[c]
GRAFT_DECLARE_KERNEL(bias_grad, void(const Tensor& grad_y, Tensor& grad_b));  // [N,C,...] -> [C]
}  // namespace kernels

}  // namespace graft
