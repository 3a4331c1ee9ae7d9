// src/layers/bias.h — adding a per-channel bias, and its gradient. Shared by Linear and Conv2d.
//
//   y: [N, C, ...] (any trailing dims, "inner" = their product), b: [C]
//   forward: y[n,c,i] += b[c]        backward: db[c] = sum over n,i of dy[n,c,i]
#pragma once

#include "tensor/tensor.h"

namespace graft {

void add_bias_(Tensor& y, const Tensor& bias);
Tensor bias_grad(const Tensor& grad_y, int64_t channels);  // -> [C]

namespace cuda {
void add_bias(float* y, const float* b, int64_t N, int64_t C, int64_t inner);
void bias_grad(const float* gy, float* gb, int64_t N, int64_t C, int64_t inner);
}  // namespace cuda

}  // namespace graft
