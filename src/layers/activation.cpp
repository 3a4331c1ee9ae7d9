// src/layers/activation.cpp — forward and backward of relu() and sigmoid() (see activation.h).
#include "layers/activation.h"

#include <cmath>

#include "autograd/engine.h"

namespace graft {

namespace {
constexpr int64_t kParallelGrain = 1 << 15;  // shorter loops stay on one thread
}

Tensor relu(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  const int64_t n = x.numel();
  if (x.is_cuda()) {
    cuda::relu_forward(x, y);
  } else {
    const float* px = x.data();
    float* py = y.data();
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) py[i] = px[i] > 0.0f ? px[i] : 0.0f;
  }
  // Save y detached: a handle to y itself would make y -> grad_fn -> y a reference cycle.
  const Tensor saved = y.detach();
  return record(y, "relu", {x}, [saved, n](const Tensor& gy) {
    Tensor gx = Tensor::empty(saved.shape(), DType::Float32, gy.device());
    if (gy.is_cuda()) {
      cuda::relu_backward(saved, gy, gx);
    } else {  // dx = dy where y > 0 (x = 0 gets 0, as PyTorch)
      const float *py = saved.data(), *pg = gy.data();
      float* out = gx.data();
#pragma omp parallel for if (n > kParallelGrain)
      for (int64_t i = 0; i < n; ++i) out[i] = py[i] > 0.0f ? pg[i] : 0.0f;
    }
    return std::vector<Tensor>{gx};
  });
}

Tensor sigmoid(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  const int64_t n = x.numel();
  if (x.is_cuda()) {
    cuda::sigmoid_forward(x, y);
  } else {
    const float* px = x.data();
    float* py = y.data();
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      // exp of a non-positive number only: never overflows.
      const float e = std::exp(-std::fabs(px[i]));
      py[i] = px[i] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    }
  }
  const Tensor saved = y.detach();  // see relu: no reference cycle
  return record(y, "sigmoid", {x}, [saved, n](const Tensor& gy) {
    Tensor gx = Tensor::empty(saved.shape(), DType::Float32, gy.device());
    if (gy.is_cuda()) {
      cuda::sigmoid_backward(saved, gy, gx);
    } else {  // dx = dy * y * (1 - y)
      const float *py = saved.data(), *pg = gy.data();
      float* out = gx.data();
#pragma omp parallel for if (n > kParallelGrain)
      for (int64_t i = 0; i < n; ++i) out[i] = pg[i] * py[i] * (1.0f - py[i]);
    }
    return std::vector<Tensor>{gx};
  });
}

ReLU::ReLU(bool inplace_) : Module("ReLU"), inplace(inplace_) {}
Tensor ReLU::forward(const Tensor& x) { return relu(x); }
std::string ReLU::extra_repr() const { return inplace ? "inplace=True" : ""; }

Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }

}  // namespace graft
