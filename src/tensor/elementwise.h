// src/tensor/elementwise.h — raw elementwise arithmetic and reductions (no autograd).
//
// These are the building blocks that autograd ops and optimizers call. Each function checks
// shapes and devices, then dispatches once: a CPU loop here (OpenMP over both cores), or a
// CUDA kernel in elementwise.cu. Shapes must match exactly: graft does not broadcast, so a
// bias or a per-channel scale is handled inside the op that needs it.
#pragma once

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
float max_abs(const Tensor& a);

namespace cuda {  // elementwise.cu, or stubs in a CPU-only build
void add(const float* a, const float* b, float* y, int64_t n);
void sub(const float* a, const float* b, float* y, int64_t n);
void mul(const float* a, const float* b, float* y, int64_t n);
void axpby(float* y, float alpha, const float* x, float beta, int64_t n);
void scale(const float* a, float s, float* y, int64_t n);
void sum(const float* a, float* out, int64_t n);
float max_abs(const float* a, int64_t n);
}  // namespace cuda

}  // namespace graft
