// src/tensor/elementwise.cpp — checks and dispatch for elementwise.h; the loops are in
// elementwise_cpu.cpp and elementwise.cu.
#include "tensor/elementwise.h"

#include "tensor/check.h"

namespace graft {

GRAFT_DEFINE_KERNELS(add, sub, mul, scale, axpby, sum, max_abs, fill);

namespace {

void check_binary(const char* op, const Tensor& a, const Tensor& b) {
  check_same_shape(op, a, b);
  check_same_device(op, a, b);
}

Tensor binary(const char* op, const Kernel<void(const Tensor&, const Tensor&, Tensor&)>& kernel, const Tensor& a,
              const Tensor& b) {
  check_binary(op, a, b);
  Tensor y = Tensor::empty(a.shape(), DType::Float32, a.device());
  kernel(a.device(), a, b, y);
  return y;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary("add", kernels::add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary("sub", kernels::sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary("mul", kernels::mul, a, b); }

Tensor scale(const Tensor& a, float s) {
  Tensor y = Tensor::empty(a.shape(), DType::Float32, a.device());
  kernels::scale(a.device(), a, s, y);
  return y;
}

void add_(Tensor& y, const Tensor& x) { axpby_(y, 1.0f, x, 1.0f); }

void axpby_(Tensor& y, float alpha, const Tensor& x, float beta) {
  check_binary("axpby_", y, x);
  kernels::axpby(y.device(), y, alpha, x, beta);
}

void mul_(Tensor& y, const Tensor& x) {
  check_binary("mul_", y, x);
  kernels::mul(y.device(), y, x, y);
}

void scale_(Tensor& y, float s) { kernels::scale(y.device(), y, s, y); }

Tensor sum_all(const Tensor& a) {
  Tensor out = Tensor::empty({}, DType::Float32, a.device());
  kernels::sum(a.device(), a, out);
  return out;
}

float max_abs(const Tensor& a) { return kernels::max_abs(a.device(), a); }

}  // namespace graft
