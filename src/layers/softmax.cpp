// src/layers/softmax.cpp — forward and backward of softmax() and log_softmax() (see softmax.h).
#include "layers/softmax.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "autograd/engine.h"

namespace graft {

namespace {

// One row per OpenMP iteration: x, y: [N,L]. log = true writes log-probabilities.
void softmax_rows_cpu(const Tensor& x, Tensor& y, bool log) {
  const int64_t N = x.size(0), L = x.size(1);
  const float* px = x.data();
  float* py = y.data();
#pragma omp parallel for if (N * L > 32768)
  for (int64_t n = 0; n < N; ++n) {
    const float* row = px + n * L;
    float* out = py + n * L;
    const float m = L > 0 ? *std::max_element(row, row + L) : 0.0f;
    double s = 0.0;  // sum of exp(x - m) >= 1: no underflow to log(0)
    for (int64_t i = 0; i < L; ++i) s += std::exp(static_cast<double>(row[i]) - m);
    if (log) {
      const double log_s = std::log(s);
      for (int64_t i = 0; i < L; ++i) out[i] = static_cast<float>(row[i] - m - log_s);
    } else {
      for (int64_t i = 0; i < L; ++i) out[i] = static_cast<float>(std::exp(static_cast<double>(row[i]) - m) / s);
    }
  }
}

// y, gy, gx: [N,L]. softmax: dx = y * (dy - sum(dy*y)); log_softmax: dx = dy - exp(y) * sum(dy).
void softmax_backward_cpu(const Tensor& y, const Tensor& gy, Tensor& gx, bool log) {
  const int64_t N = y.size(0), L = y.size(1);
  const float *py = y.data(), *pg = gy.data();
  float* out = gx.data();
#pragma omp parallel for if (N * L > 32768)
  for (int64_t n = 0; n < N; ++n) {
    const float *yr = py + n * L, *gr = pg + n * L;
    float* o = out + n * L;
    double dot = 0.0;
    for (int64_t i = 0; i < L; ++i) dot += log ? gr[i] : static_cast<double>(gr[i]) * yr[i];
    for (int64_t i = 0; i < L; ++i)
      o[i] = log ? static_cast<float>(gr[i] - std::exp(static_cast<double>(yr[i])) * dot)
                 : static_cast<float>(yr[i] * (gr[i] - dot));
  }
}

// Shared by both ops: `log` picks the variant. Dispatches once to the CUDA or CPU kernels.
Tensor softmax_op(const Tensor& x, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  if (x.dim() != 2)
    throw std::invalid_argument(std::string(name) + ": expected logits [N, L] (2-D), got shape " +
                                shape_str(x.shape()) + "; flatten the input first");
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.is_cuda() && log)
    cuda::log_softmax_forward(x, y);
  else if (x.is_cuda())
    cuda::softmax_forward(x, y);
  else
    softmax_rows_cpu(x, y, log);
  const Tensor saved = y.detach();  // the output, detached: no y -> grad_fn -> y cycle
  return record(y, name, {x}, [saved, log](const Tensor& gy) {
    Tensor gx = Tensor::empty(saved.shape(), DType::Float32, gy.device());
    if (gy.is_cuda() && log)
      cuda::log_softmax_backward(saved, gy, gx);
    else if (gy.is_cuda())
      cuda::softmax_backward(saved, gy, gx);
    else
      softmax_backward_cpu(saved, gy, gx, log);
    return std::vector<Tensor>{gx};
  });
}

int64_t check_softmax_dim(const char* module, int64_t dim) {
  if (dim != 1 && dim != -1)
    throw std::invalid_argument(std::string(module) + ": only dim=1 (or dim=-1) over [N, L] logits is supported, got dim=" +
                                std::to_string(dim) + "; reshape the input so the classes are dim 1");
  return dim;
}

}  // namespace

Tensor softmax(const Tensor& x) { return softmax_op(x, false); }
Tensor log_softmax(const Tensor& x) { return softmax_op(x, true); }

Softmax::Softmax(int64_t dim_) : Module("Softmax"), dim(check_softmax_dim("Softmax", dim_)) {}
Tensor Softmax::forward(const Tensor& x) { return softmax(x); }
std::string Softmax::extra_repr() const { return "dim=" + std::to_string(dim); }

LogSoftmax::LogSoftmax(int64_t dim_) : Module("LogSoftmax"), dim(check_softmax_dim("LogSoftmax", dim_)) {}
Tensor LogSoftmax::forward(const Tensor& x) { return log_softmax(x); }
std::string LogSoftmax::extra_repr() const { return "dim=" + std::to_string(dim); }

}  // namespace graft
