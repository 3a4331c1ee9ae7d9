// src/autograd/ops.h — the small differentiable primitives: arithmetic, sums, reshapes.
//
// Each op computes its output with the raw kernels of src/tensor/elementwise.h and records a
// backward function right beneath it (see ops.cpp). Neural-network ops (conv2d, batch norm,
// losses, ...) live one per file in src/layers/.
#pragma once

#include "tensor/tensor.h"

namespace graft {

// All of these take and return tensors of identical shape (no broadcasting).
Tensor operator+(const Tensor& a, const Tensor& b);  // d/da = 1, d/db = 1
Tensor operator-(const Tensor& a, const Tensor& b);  // d/da = 1, d/db = -1
Tensor operator*(const Tensor& a, const Tensor& b);  // d/da = b, d/db = a
Tensor operator*(const Tensor& a, float s);          // d/da = s
Tensor sum(const Tensor& a);                         // [] scalar; d/da = 1
Tensor mean(const Tensor& a);                        // [] scalar; d/da = 1/numel

// x: any shape -> same data with `shape` (one entry may be -1): x.view(shape), which is
// differentiable (its backward reshapes back).
Tensor reshape(const Tensor& x, const Shape& shape);
// x: [N, ...] -> [N, prod(...)], as nn.Flatten (start_dim=1).
Tensor flatten(const Tensor& x);

}  // namespace graft
