// src/tensor/elementwise_cpu.cpp — the CPU kernels of elementwise.h: one loop each, split over
// the cores with OpenMP when the tensor is large enough to pay for starting the threads.
#include <algorithm>
#include <cmath>

#include "tensor/elementwise.h"

namespace graft {
namespace {

// Loops shorter than this run on one thread: starting a parallel region costs microseconds.
constexpr int64_t kParallelGrain = 1 << 15;

// y = op(a, b) elementwise: the one loop shared by add, sub and mul.
template <class Op>
void binary_cpu(const Tensor& a, const Tensor& b, Tensor& y, Op op) {
  const int64_t n = y.numel();
  const float *pa = a.data(), *pb = b.data();
  float* py = y.data();
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) py[i] = op(pa[i], pb[i]);
}

void add_cpu(const Tensor& a, const Tensor& b, Tensor& y) { binary_cpu(a, b, y, [](float u, float v) { return u + v; }); }
void sub_cpu(const Tensor& a, const Tensor& b, Tensor& y) { binary_cpu(a, b, y, [](float u, float v) { return u - v; }); }
void mul_cpu(const Tensor& a, const Tensor& b, Tensor& y) { binary_cpu(a, b, y, [](float u, float v) { return u * v; }); }

void scale_cpu(const Tensor& a, float s, Tensor& y) {
  const int64_t n = y.numel();
  const float* pa = a.data();
  float* py = y.data();
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) py[i] = s * pa[i];
}

void axpby_cpu(Tensor& y, float alpha, const Tensor& x, float beta) {
  const int64_t n = y.numel();
  const float* px = x.data();
  float* py = y.data();
  if (beta == 0.0f) {  // do not read y: it may hold garbage (NaN * 0 is NaN)
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) py[i] = alpha * px[i];
    return;
  }
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) py[i] = alpha * px[i] + beta * py[i];
}

void sum_cpu(const Tensor& a, Tensor& out) {
  const int64_t n = a.numel();
  const float* pa = a.data();
  double s = 0.0;  // double: a float sum of 10^6 terms loses about 3 digits
#pragma omp parallel for reduction(+ : s) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) s += pa[i];
  out.data()[0] = static_cast<float>(s);
}

float max_abs_cpu(const Tensor& a) {
  const float* pa = a.data();
  float m = 0.0f;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::fmax(m, std::fabs(pa[i]));  // fmax ignores NaN
  return m;
}

void fill_cpu(Tensor& t, float value) { std::fill_n(t.data(), t.numel(), value); }

}  // namespace

GRAFT_REGISTER_KERNELS(CPU, kIsa, _cpu, add, sub, mul, scale, axpby, sum, max_abs, fill);

}  // namespace graft
