// src/tensor/elementwise.h — raw elementwise arithmetic and reductions (no autograd).
//
// These are the building blocks that autograd ops and optimizers call. Each function checks
// shapes and devices, allocates its result on the inputs' device and calls its kernel
// (dispatch.h): plain loops in elementwise_cpu.cpp, CUDA kernels in elementwise.cu. Shapes must
// match exactly: graft does not broadcast, so a bias or a per-channel scale is handled inside
// the op that needs it.
#pragma once

#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace graft {

Tensor add(const Tensor& a, const Tensor& b);             // a + b
Tensor sub(const Tensor& a, const Tensor& b);             // a - b
Tensor mul(const Tensor& a, const Tensor& b);             // a * b
Tensor scale(const Tensor& a, float s);                   // s * a
void add_(Tensor& y, const Tensor& x);                    // y += x
void axpby_(Tensor& y, float alpha, const Tensor& x, float beta);  // y = alpha*x + beta*y
void mul_(Tensor& y, const Tensor& x);                    // y *= x
void scale_(Tensor& y, float s);                          // y *= s
Tensor sum_all(const Tensor& a);                          // [] scalar, accumulated in double
float max_abs(const Tensor& a);                           // max |a_i| (NaN ignored), read to the host

// The kernels: float32 tensors of the same number of elements n; outputs preallocated by the
// caller, and allowed to alias an input (in-place ops).
namespace kernels {
GRAFT_DECLARE_KERNEL(add, void(const Tensor& a, const Tensor& b, Tensor& y));    // y = a + b
GRAFT_DECLARE_KERNEL(sub, void(const Tensor& a, const Tensor& b, Tensor& y));    // y = a - b
GRAFT_DECLARE_KERNEL(mul, void(const Tensor& a, const Tensor& b, Tensor& y));    // y = a * b
GRAFT_DECLARE_KERNEL(scale, void(const Tensor& a, float s, Tensor& y));          // y = s * a
// y = alpha * x + beta * y; beta == 0 does not read y (it may be uninitialized)
GRAFT_DECLARE_KERNEL(axpby, void(Tensor& y, float alpha, const Tensor& x, float beta));
GRAFT_DECLARE_KERNEL(sum, void(const Tensor& a, Tensor& out));                   // out: [] = sum a
GRAFT_DECLARE_KERNEL(max_abs, float(const Tensor& a));
GRAFT_DECLARE_KERNEL(fill, void(Tensor& t, float value));                        // Tensor::fill_
}  // namespace kernels

}  // namespace graft
