// src/layers/loss_cpu.cpp — the CPU kernels of loss.h. Sums are accumulated in double. They
// also check the values only they read: labels in [0, L) for NLL/CE, probabilities in [0, 1]
// for BCE (the CUDA kernels turn such a row's loss into NaN instead: a kernel cannot throw).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "layers/loss.h"
#include "tensor/check.h"

namespace graft {
namespace {

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

const float* opt_ptr(const Tensor& t) { return t.defined() ? t.data() : nullptr; }

// Labels are checked before any loss is computed.
void check_labels(const char* op, const Tensor& target, int64_t L) {
  const int64_t* t = target.data_ptr<int64_t>();
  for (int64_t i = 0; i < target.numel(); ++i)
    GRAFT_CHECK(t[i] >= 0 && t[i] < L, op, "target[", i, "] = ", t[i], " is out of range for ", L,
                " classes (labels must be in [0, ", L - 1,
                "]); check the labels and the number of outputs of the last layer");
}

// ---- NLL --------------------------------------------------------------------------------
void nll_forward_cpu(const Tensor& log_probs, const Tensor& target, const Tensor& weight, Reduction r, Tensor& loss_t,
                     Tensor& total_weight_t) {
  const int64_t N = log_probs.size(0), L = log_probs.size(1);
  check_labels("nll_loss", target, L);
  const float *lp = log_probs.data(), *w = opt_ptr(weight);
  const int64_t* t = target.data_ptr<int64_t>();
  float *loss = loss_t.data(), *total_weight = total_weight_t.data();
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

void nll_backward_cpu(const Tensor& target, const Tensor& weight, const Tensor& grad_loss, const Tensor& total_weight_t,
                      Reduction r, Tensor& grad_log_probs) {
  const int64_t N = grad_log_probs.size(0), L = grad_log_probs.size(1);
  const int64_t* t = target.data_ptr<int64_t>();
  const float *w = opt_ptr(weight), *gl = grad_loss.data(), *total_weight = total_weight_t.data();
  float* glp = grad_log_probs.data();
  std::fill(glp, glp + N * L, 0.0f);
  for (int64_t i = 0; i < N; ++i) glp[i * L + t[i]] = -(w ? w[t[i]] : 1.0f) * grad_of(gl, i, r, *total_weight);
}

// ---- cross-entropy ----------------------------------------------------------------------
void cross_entropy_forward_cpu(const Tensor& logits, const Tensor& target, const Tensor& weight, Reduction r,
                               Tensor& loss_t, Tensor& total_weight_t, Tensor& row_max_t, Tensor& row_logsum_t) {
  const int64_t N = logits.size(0), L = logits.size(1);
  check_labels("cross_entropy", target, L);
  const float *x = logits.data(), *w = opt_ptr(weight);
  const int64_t* t = target.data_ptr<int64_t>();
  float *loss = loss_t.data(), *total_weight = total_weight_t.data();
  float *row_max = row_max_t.data(), *row_logsum = row_logsum_t.data();
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

void cross_entropy_backward_cpu(const Tensor& logits, const Tensor& row_max_t, const Tensor& row_logsum_t,
                                const Tensor& target, const Tensor& weight, const Tensor& grad_loss,
                                const Tensor& total_weight_t, Reduction r, Tensor& grad_logits) {
  const int64_t N = logits.size(0), L = logits.size(1);
  const float *x = logits.data(), *row_max = row_max_t.data(), *row_logsum = row_logsum_t.data();
  const int64_t* t = target.data_ptr<int64_t>();
  const float *w = opt_ptr(weight), *gl = grad_loss.data(), *total_weight = total_weight_t.data();
  float* gx = grad_logits.data();
#pragma omp parallel for if (N * L > 32768)
  for (int64_t i = 0; i < N; ++i) {
    const float g = (w ? w[t[i]] : 1.0f) * grad_of(gl, i, r, *total_weight);
    for (int64_t j = 0; j < L; ++j)  // (softmax - onehot) * w[t] * dL/dl_i
      gx[i * L + j] = g * (std::exp((x[i * L + j] - row_max[i]) - row_logsum[i]) - (j == t[i] ? 1.0f : 0.0f));
  }
}

// ---- BCE on probabilities ---------------------------------------------------------------
void bce_forward_cpu(const Tensor& probs, const Tensor& target, const Tensor& weight, Reduction r, Tensor& loss_t) {
  const int64_t n = probs.numel();
  const float *p = probs.data(), *t = target.data(), *w = opt_ptr(weight);
  for (int64_t i = 0; i < n; ++i)
    GRAFT_CHECK(p[i] >= 0.0f && p[i] <= 1.0f, "bce_loss", "probs must be in [0, 1], got ", p[i], " at flat index ", i,
                "; apply sigmoid() first, or use bce_with_logits on the logits");
  float* loss = loss_t.data();
  std::vector<double> l(n);
  for (int64_t i = 0; i < n; ++i) {
    // PyTorch clamps each log at -100 so that p = 0 or 1 gives a finite loss (and gradient).
    const double log_p = std::max(std::log(static_cast<double>(p[i])), -100.0);
    const double log_1mp = std::max(std::log1p(-static_cast<double>(p[i])), -100.0);
    l[i] = -(w ? w[i] : 1.0) * (t[i] * log_p + (1.0 - t[i]) * log_1mp);
  }
  reduce(l, static_cast<double>(n), r, loss);
}

void bce_backward_cpu(const Tensor& probs, const Tensor& target, const Tensor& weight, const Tensor& grad_loss,
                      Reduction r, Tensor& grad_probs) {
  const int64_t n = probs.numel();
  const float *p = probs.data(), *t = target.data(), *w = opt_ptr(weight), *gl = grad_loss.data();
  float* gp = grad_probs.data();
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

void bce_with_logits_forward_cpu(const Tensor& logits, const Tensor& target, const Tensor& pos_weight, Reduction r,
                                 Tensor& loss_t) {
  const int64_t n = logits.numel(), L = logits.dim() > 0 ? logits.size(-1) : 1;
  const float *x = logits.data(), *t = target.data(), *pw = opt_ptr(pos_weight);
  float* loss = loss_t.data();
  std::vector<double> l(n);
  for (int64_t i = 0; i < n; ++i) {
    const double xi = x[i], ti = t[i];
    const double lw = pw ? 1.0 + (pw[i % L] - 1.0) * ti : 1.0;
    const double softplus_neg_x = std::max(-xi, 0.0) + std::log1p(std::exp(-std::fabs(xi)));  // log(1+e^-x)
    l[i] = (1.0 - ti) * xi + lw * softplus_neg_x;
  }
  reduce(l, static_cast<double>(n), r, loss);
}

void bce_with_logits_backward_cpu(const Tensor& logits, const Tensor& target, const Tensor& pos_weight,
                                  const Tensor& grad_loss, Reduction r, Tensor& grad_logits) {
  const int64_t n = logits.numel(), L = logits.dim() > 0 ? logits.size(-1) : 1;
  const float *x = logits.data(), *t = target.data(), *pw = opt_ptr(pos_weight), *gl = grad_loss.data();
  float* gx = grad_logits.data();
  for (int64_t i = 0; i < n; ++i) {
    const double ti = t[i], pwi = pw ? pw[i % L] : 1.0;
    const double lw = 1.0 + (pwi - 1.0) * ti;
    gx[i] = grad_of(gl, i, r, static_cast<double>(n)) * static_cast<float>(lw * stable_sigmoid(x[i]) - pwi * ti);
  }
}

}  // namespace

GRAFT_REGISTER_KERNELS(CPU, "reference", _cpu, nll_forward, nll_backward, cross_entropy_forward, cross_entropy_backward,
                       bce_forward, bce_backward, bce_with_logits_forward, bce_with_logits_backward);

}  // namespace graft
