// src/tensor/elementwise.cpp — CPU loops and device dispatch for elementwise.h.
#include "tensor/elementwise.h"

#include <cmath>
#include <stdexcept>

namespace graft {

namespace {
// Loops shorter than this run on one thread: starting a parallel region costs microseconds.
constexpr int64_t kParallelGrain = 1 << 15;

void check_binary(const char* op, const Tensor& a, const Tensor& b) {
  check_same_shape(op, a, b);
  check_same_device(op, a, b);
}
}  // namespace

namespace {

// y = op(a, b) elementwise: the one CPU loop shared by add, sub and mul; `cuda_op` is the
// matching launcher in elementwise.cu.
template <class Op>
Tensor binary(const char* name, const Tensor& a, const Tensor& b, Op op,
              void (*cuda_op)(const float*, const float*, float*, int64_t)) {
  check_binary(name, a, b);
  Tensor y = Tensor::empty(a.shape(), DType::Float32, a.device());
  const int64_t n = a.numel();
  if (a.is_cuda()) {
    cuda_op(a.data(), b.data(), y.data(), n);
    return y;
  }
  const float *pa = a.data(), *pb = b.data();
  float* py = y.data();
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) py[i] = op(pa[i], pb[i]);
  return y;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  return binary("add", a, b, [](float x, float y) { return x + y; }, cuda::add);
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return binary("sub", a, b, [](float x, float y) { return x - y; }, cuda::sub);
}

Tensor mul(const Tensor& a, const Tensor& b) {
  return binary("mul", a, b, [](float x, float y) { return x * y; }, cuda::mul);
}

Tensor scale(const Tensor& a, float s) {
  Tensor y = Tensor::empty(a.shape(), DType::Float32, a.device());
  int64_t n = a.numel();
  if (a.is_cuda()) {
    cuda::scale(a.data(), s, y.data(), n);
    return y;
  }
  const float* pa = a.data();
  float* py = y.data();
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) py[i] = s * pa[i];
  return y;
}

void add_(Tensor& y, const Tensor& x) { axpby_(y, 1.0f, x, 1.0f); }

void axpby_(Tensor& y, float alpha, const Tensor& x, float beta) {
  check_binary("axpby_", y, x);
  int64_t n = y.numel();
  if (y.is_cuda()) return cuda::axpby(y.data(), alpha, x.data(), beta, n);
  const float* px = x.data();
  float* py = y.data();
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) py[i] = alpha * px[i] + beta * py[i];
}

void mul_(Tensor& y, const Tensor& x) {
  check_binary("mul_", y, x);
  int64_t n = y.numel();
  if (y.is_cuda()) return cuda::mul(y.data(), x.data(), y.data(), n);
  const float* px = x.data();
  float* py = y.data();
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) py[i] *= px[i];
}

void scale_(Tensor& y, float s) {
  int64_t n = y.numel();
  if (y.is_cuda()) return cuda::scale(y.data(), s, y.data(), n);
  float* py = y.data();
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) py[i] *= s;
}

Tensor sum_all(const Tensor& a) {
  Tensor out = Tensor::empty({}, DType::Float32, a.device());
  int64_t n = a.numel();
  if (a.is_cuda()) {
    cuda::sum(a.data(), out.data(), n);
    return out;
  }
  const float* pa = a.data();
  double s = 0.0;
#pragma omp parallel for reduction(+ : s) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) s += pa[i];
  out.data()[0] = static_cast<float>(s);
  return out;
}

float max_abs(const Tensor& a) {
  if (a.is_cuda()) return cuda::max_abs(a.data(), a.numel());
  const float* pa = a.data();
  float m = 0.0f;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::fmax(m, std::fabs(pa[i]));
  return m;
}

}  // namespace graft
