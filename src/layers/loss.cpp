// src/layers/loss.cpp — forward and backward of the losses in loss.h.
//
// Each loss has a CPU forward and backward kernel with the same arguments as its CUDA launcher,
// then the differentiable op that checks its inputs, dispatches once by device, and records a
// backward lambda right beneath the forward. Sums are accumulated in double.
#include "layers/loss.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/engine.h"

namespace graft {

const char* reduction_name(Reduction r) {
  switch (r) {
    case Reduction::Mean:
      return "mean";
    case Reduction::Sum:
      return "sum";
    case Reduction::None:
      return "none";
  }
  return "?";
}

namespace {

[[noreturn]] void fail(const std::string& op, const std::string& what) {
  throw std::invalid_argument(op + ": " + what);
}

void check_float(const char* op, const char* what, const Tensor& t) {
  if (t.dtype() != DType::Float32) fail(op, std::string(what) + " must be float32, got " + t.str());
}

// The target of a loss is data, not a parameter: refuse to silently drop its gradient.
void check_no_grad(const char* op, const char* what, const Tensor& t) {
  if (t.defined() && t.requires_grad() && grad_enabled())
    fail(op, std::string("no gradient is computed with respect to ") + what + " (" + t.str() + "); pass " + what +
                 ".detach()");
}

// Checks shared by nll_loss and cross_entropy: x [N,L], target Int64 [N], weight [L].
void check_class_inputs(const char* op, const Tensor& x, const Tensor& target, const Tensor& weight) {
  check_float(op, "input", x);
  check_dim(op, "input", x, 2);
  const int64_t N = x.size(0), L = x.size(1);
  if (target.dtype() != DType::Int64)
    fail(op, "target must hold Int64 class indices of shape [" + std::to_string(N) + "], got " + target.str() +
                 " (build it with Tensor::from_labels; use bce_with_logits for float targets)");
  if (target.shape() != Shape{N})
    fail(op, "target must have shape [" + std::to_string(N) + "] (one label per row of input " + shape_str(x.shape()) +
                 "), got " + shape_str(target.shape()));
  check_same_device(op, x, target);
  if (weight.defined()) {
    check_float(op, "weight", weight);
    check_shape(op, "weight (one per class)", weight, {L});
    check_same_device(op, x, weight);
  }
  check_no_grad(op, "target", target);
  check_no_grad(op, "weight", weight);
}

// On the CPU, labels are checked before any kernel runs (the CUDA kernels check their own).
void check_labels(const char* op, const Tensor& target, int64_t L) {
  if (target.is_cuda()) return;
  const int64_t* t = target.data_ptr<int64_t>();
  for (int64_t i = 0; i < target.numel(); ++i)
    if (t[i] < 0 || t[i] >= L)
      fail(op, "target[" + std::to_string(i) + "] = " + std::to_string(t[i]) + " is out of range for " +
                   std::to_string(L) + " classes (labels must be in [0, " + std::to_string(L - 1) +
                   "]); check the labels and the number of outputs of the last layer");
}

// BCE: target (and weight) float32 with the input's shape.
void check_binary_inputs(const char* op, const Tensor& x, const Tensor& target, const Tensor& weight) {
  check_float(op, "input", x);
  if (target.dtype() != DType::Float32)
    fail(op, "target must be float32 (0/1 or probabilities) with the input's shape " + shape_str(x.shape()) + ", got " +
                 target.str());
  check_same_shape(op, x, target);
  check_same_device(op, x, target);
  if (weight.defined()) {
    check_float(op, "weight", weight);
    check_same_device(op, x, weight);
  }
  check_no_grad(op, "target", target);
  check_no_grad(op, "weight", weight);
}

Shape output_shape(Reduction r, const Shape& unreduced) { return r == Reduction::None ? unreduced : Shape{}; }

// Writes the reduced loss: one value per element for None, their (weighted) sum or mean otherwise.
void reduce(const std::vector<double>& l, double denom, Reduction r, float* loss) {
  if (r == Reduction::None) {
    for (size_t i = 0; i < l.size(); ++i) loss[i] = static_cast<float>(l[i]);
    return;
  }
  double s = 0;
  for (double v : l) s += v;
  loss[0] = static_cast<float>(r == Reduction::Mean ? s / denom : s);
}

// dL/dl_i for the element i of the unreduced loss.
inline float grad_of(const float* grad_loss, int64_t i, Reduction r, double denom) {
  if (r == Reduction::None) return grad_loss[i];
  return r == Reduction::Mean ? static_cast<float>(grad_loss[0] / denom) : grad_loss[0];
}

// ---- NLL --------------------------------------------------------------------------------
void nll_forward_cpu(const float* lp, const int64_t* t, const float* w, int64_t N, int64_t L, Reduction r, float* loss,
                     float* total_weight) {
  std::vector<double> l(N);
  double wsum = 0;
  for (int64_t i = 0; i < N; ++i) {
    const double wt = w ? w[t[i]] : 1.0;
    l[i] = -wt * lp[i * L + t[i]];
    wsum += wt;
  }
  *total_weight = static_cast<float>(wsum);
  reduce(l, wsum, r, loss);
}

void nll_backward_cpu(const int64_t* t, const float* w, const float* gl, const float* total_weight, int64_t N,
                      int64_t L, Reduction r, float* glp) {
  std::fill(glp, glp + N * L, 0.0f);
  for (int64_t i = 0; i < N; ++i) glp[i * L + t[i]] = -(w ? w[t[i]] : 1.0f) * grad_of(gl, i, r, *total_weight);
}

// ---- cross-entropy ----------------------------------------------------------------------
void cross_entropy_forward_cpu(const float* x, const int64_t* t, const float* w, int64_t N, int64_t L, Reduction r,
                               float* loss, float* total_weight, float* row_max, float* row_logsum) {
  std::vector<double> l(N);
#pragma omp parallel for if (N * L > 32768)
  for (int64_t i = 0; i < N; ++i) {
    const float* row = x + i * L;
    const float m = *std::max_element(row, row + L);  // exp(x - m) <= 1: no overflow
    double s = 0;
    for (int64_t j = 0; j < L; ++j) s += std::exp(static_cast<double>(row[j]) - m);
    row_max[i] = m;
    row_logsum[i] = static_cast<float>(std::log(s));
    l[i] = (w ? w[t[i]] : 1.0) * ((m - row[t[i]]) + std::log(s));  // -log_softmax(x)[t]
  }
  double wsum = 0;
  for (int64_t i = 0; i < N; ++i) wsum += w ? w[t[i]] : 1.0;
  *total_weight = static_cast<float>(wsum);
  reduce(l, wsum, r, loss);
}

void cross_entropy_backward_cpu(const float* x, const float* row_max, const float* row_logsum, const int64_t* t,
                                const float* w, const float* gl, const float* total_weight, int64_t N, int64_t L,
                                Reduction r, float* gx) {
#pragma omp parallel for if (N * L > 32768)
  for (int64_t i = 0; i < N; ++i) {
    const float g = (w ? w[t[i]] : 1.0f) * grad_of(gl, i, r, *total_weight);
    for (int64_t j = 0; j < L; ++j)  // (softmax - onehot) * w[t] * dL/dl_i
      gx[i * L + j] = g * (std::exp((x[i * L + j] - row_max[i]) - row_logsum[i]) - (j == t[i] ? 1.0f : 0.0f));
  }
}

// ---- BCE on probabilities ---------------------------------------------------------------
void bce_forward_cpu(const float* p, const float* t, const float* w, int64_t n, Reduction r, float* loss) {
  std::vector<double> l(n);
  for (int64_t i = 0; i < n; ++i) {
    // PyTorch clamps each log at -100 so that p = 0 or 1 gives a finite loss (and gradient).
    const double log_p = std::max(std::log(static_cast<double>(p[i])), -100.0);
    const double log_1mp = std::max(std::log1p(-static_cast<double>(p[i])), -100.0);
    l[i] = -(w ? w[i] : 1.0) * (t[i] * log_p + (1.0 - t[i]) * log_1mp);
  }
  reduce(l, static_cast<double>(n), r, loss);
}

void bce_backward_cpu(const float* p, const float* t, const float* w, const float* gl, int64_t n, Reduction r,
                      float* gp) {
  const float kEps = 1e-12f;  // PyTorch's floor on p(1-p): p = 0 or 1 gives a large, finite gradient
  for (int64_t i = 0; i < n; ++i)
    gp[i] = grad_of(gl, i, r, static_cast<double>(n)) * (w ? w[i] : 1.0f) * (p[i] - t[i]) /
            std::max((1.0f - p[i]) * p[i], kEps);
}

// ---- BCE on logits ----------------------------------------------------------------------
inline double stable_sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);  // x < 0: exp(-x) could overflow, exp(x) cannot
  return e / (1.0 + e);
}

void bce_with_logits_forward_cpu(const float* x, const float* t, const float* pw, int64_t n, int64_t L, Reduction r,
                                 float* loss) {
  std::vector<double> l(n);
  for (int64_t i = 0; i < n; ++i) {
    const double xi = x[i], ti = t[i];
    const double lw = pw ? 1.0 + (pw[i % L] - 1.0) * ti : 1.0;
    const double softplus_neg_x = std::max(-xi, 0.0) + std::log1p(std::exp(-std::fabs(xi)));  // log(1+e^-x)
    l[i] = (1.0 - ti) * xi + lw * softplus_neg_x;
  }
  reduce(l, static_cast<double>(n), r, loss);
}

void bce_with_logits_backward_cpu(const float* x, const float* t, const float* pw, const float* gl, int64_t n,
                                  int64_t L, Reduction r, float* gx) {
  for (int64_t i = 0; i < n; ++i) {
    const double ti = t[i], pwi = pw ? pw[i % L] : 1.0;
    const double lw = 1.0 + (pwi - 1.0) * ti;
    gx[i] = grad_of(gl, i, r, static_cast<double>(n)) * static_cast<float>(lw * stable_sigmoid(x[i]) - pwi * ti);
  }
}

const float* opt_ptr(const Tensor& t) { return t.defined() ? t.data() : nullptr; }

}  // namespace

// =========================================================================================
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight, Reduction r) {
  check_class_inputs("nll_loss", log_probs, target, weight);
  const int64_t N = log_probs.size(0), L = log_probs.size(1);
  check_labels("nll_loss", target, L);
  const Device dev = log_probs.device();
  Tensor loss = Tensor::empty(output_shape(r, {N}), DType::Float32, dev);
  Tensor total_weight = Tensor::empty({}, DType::Float32, dev);
  if (log_probs.is_cuda())
    cuda::nll_forward(log_probs.data(), target.data_ptr<int64_t>(), opt_ptr(weight), N, L, r, loss.data(),
                      total_weight.data());
  else
    nll_forward_cpu(log_probs.data(), target.data_ptr<int64_t>(), opt_ptr(weight), N, L, r, loss.data(),
                    total_weight.data());

  return record(loss, "nll_loss", {log_probs}, [target, weight, total_weight, N, L, r, dev](const Tensor& gy) {
    Tensor g = Tensor::empty({N, L}, DType::Float32, dev);
    if (g.is_cuda())
      cuda::nll_backward(target.data_ptr<int64_t>(), opt_ptr(weight), gy.data(), total_weight.data(), N, L, r,
                         g.data());
    else
      nll_backward_cpu(target.data_ptr<int64_t>(), opt_ptr(weight), gy.data(), total_weight.data(), N, L, r, g.data());
    return std::vector<Tensor>{g};
  });
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight, Reduction r) {
  check_class_inputs("cross_entropy", logits, target, weight);
  const int64_t N = logits.size(0), L = logits.size(1);
  check_labels("cross_entropy", target, L);
  const Device dev = logits.device();
  Tensor loss = Tensor::empty(output_shape(r, {N}), DType::Float32, dev);
  Tensor total_weight = Tensor::empty({}, DType::Float32, dev);
  // Row statistics for the backward: max and log(sum(exp(x - max))), kept apart because their
  // sum (the log-sum-exp) rounded to float loses digits when logits are large (1000 + 0.3).
  Tensor row_max = Tensor::empty({N}, DType::Float32, dev), row_logsum = Tensor::empty({N}, DType::Float32, dev);
  if (logits.is_cuda())
    cuda::cross_entropy_forward(logits.data(), target.data_ptr<int64_t>(), opt_ptr(weight), N, L, r, loss.data(),
                                total_weight.data(), row_max.data(), row_logsum.data());
  else
    cross_entropy_forward_cpu(logits.data(), target.data_ptr<int64_t>(), opt_ptr(weight), N, L, r, loss.data(),
                              total_weight.data(), row_max.data(), row_logsum.data());

  return record(
      loss, "cross_entropy", {logits},
      [logits, row_max, row_logsum, target, weight, total_weight, N, L, r, dev](const Tensor& gy) {
        Tensor g = Tensor::empty({N, L}, DType::Float32, dev);
        if (g.is_cuda())
          cuda::cross_entropy_backward(logits.data(), row_max.data(), row_logsum.data(), target.data_ptr<int64_t>(),
                                       opt_ptr(weight), gy.data(), total_weight.data(), N, L, r, g.data());
        else
          cross_entropy_backward_cpu(logits.data(), row_max.data(), row_logsum.data(), target.data_ptr<int64_t>(),
                                     opt_ptr(weight), gy.data(), total_weight.data(), N, L, r, g.data());
        return std::vector<Tensor>{g};
      });
}

Tensor bce_loss(const Tensor& probs, const Tensor& target, const Tensor& weight, Reduction r) {
  check_binary_inputs("bce_loss", probs, target, weight);
  if (weight.defined()) check_shape("bce_loss", "weight", weight, probs.shape());
  const int64_t n = probs.numel();
  const Device dev = probs.device();
  if (!probs.is_cuda()) {
    const float* p = probs.data();
    for (int64_t i = 0; i < n; ++i)
      if (!(p[i] >= 0.0f && p[i] <= 1.0f))
        fail("bce_loss", "probs must be in [0, 1], got " + std::to_string(p[i]) + " at flat index " +
                             std::to_string(i) + "; apply sigmoid() first, or use bce_with_logits on the logits");
  }
  Tensor loss = Tensor::empty(output_shape(r, probs.shape()), DType::Float32, dev);
  if (probs.is_cuda())
    cuda::bce_forward(probs.data(), target.data(), opt_ptr(weight), n, r, loss.data());
  else
    bce_forward_cpu(probs.data(), target.data(), opt_ptr(weight), n, r, loss.data());

  return record(loss, "bce_loss", {probs}, [probs, target, weight, n, r, dev](const Tensor& gy) {
    Tensor g = Tensor::empty(probs.shape(), DType::Float32, dev);
    if (g.is_cuda())
      cuda::bce_backward(probs.data(), target.data(), opt_ptr(weight), gy.data(), n, r, g.data());
    else
      bce_backward_cpu(probs.data(), target.data(), opt_ptr(weight), gy.data(), n, r, g.data());
    return std::vector<Tensor>{g};
  });
}

Tensor bce_with_logits(const Tensor& logits, const Tensor& target, const Tensor& pos_weight, Reduction r) {
  check_binary_inputs("bce_with_logits", logits, target, pos_weight);
  const int64_t n = logits.numel();
  const int64_t L = logits.dim() > 0 ? logits.size(-1) : 1;
  if (pos_weight.defined()) check_shape("bce_with_logits", "pos_weight (one per class, the last dim)", pos_weight, {L});
  const Device dev = logits.device();
  Tensor loss = Tensor::empty(output_shape(r, logits.shape()), DType::Float32, dev);
  if (logits.is_cuda())
    cuda::bce_with_logits_forward(logits.data(), target.data(), opt_ptr(pos_weight), n, L, r, loss.data());
  else
    bce_with_logits_forward_cpu(logits.data(), target.data(), opt_ptr(pos_weight), n, L, r, loss.data());

  return record(loss, "bce_with_logits", {logits}, [logits, target, pos_weight, n, L, r, dev](const Tensor& gy) {
    Tensor g = Tensor::empty(logits.shape(), DType::Float32, dev);
    if (g.is_cuda())
      cuda::bce_with_logits_backward(logits.data(), target.data(), opt_ptr(pos_weight), gy.data(), n, L, r, g.data());
    else
      bce_with_logits_backward_cpu(logits.data(), target.data(), opt_ptr(pos_weight), gy.data(), n, L, r, g.data());
    return std::vector<Tensor>{g};
  });
}

}  // namespace graft
