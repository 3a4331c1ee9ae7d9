// src/layers/soft_targets.cpp — see soft_targets.h. The forward is -sum(C * log_softmax(x));
// the backward comes from those three ops: (softmax(x) * sum_j C[i,j] - C[i,j]) per row.
#include "layers/soft_targets.h"

#include <vector>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "layers/softmax.h"
#include "tensor/check.h"
#include "tensor/elementwise.h"

namespace graft {

namespace {
// -sum(C * log_softmax(x)): x [N,L], C [N,L] constant.
Tensor weighted_log_likelihood(const Tensor& x, const Tensor& C) { return sum(C * log_softmax(x)) * -1.0f; }
}  // namespace

Tensor soft_target_cross_entropy(const Tensor& logits, const Tensor& q) {
  const char* op = "soft_target_cross_entropy";
  check_dim(op, "input", logits, 2);
  GRAFT_CHECK(q.dtype() == DType::Float32 && q.shape() == logits.shape(), op,
              "the soft targets must be float32 of the input's shape ", logits.shape(), " (one row of class "
              "probabilities per sample), got ", q);
  check_same_device(op, logits, q);
  GRAFT_CHECK(!(q.requires_grad() && grad_enabled()), op, "no gradient is computed with respect to the targets; "
              "pass q.detach()");
  // C = q / N, a constant of the loss: the raw elementwise scale records no graph.
  return weighted_log_likelihood(logits, scale(q, 1.0f / static_cast<float>(logits.size(0))));
}

Tensor cross_entropy_smoothed(const Tensor& logits, const Tensor& target, double e, const Tensor& weight,
                              Reduction r) {
  const char* op = "cross_entropy_smoothed";
  GRAFT_CHECK(e >= 0 && e <= 1, op, "label smoothing must be in [0, 1], got ", e);
  GRAFT_CHECK(r != Reduction::None, op, "label smoothing supports the mean and sum reductions, not none");
  if (e == 0) return cross_entropy(logits, target, weight, r);  // the one fused op
  check_dim(op, "input", logits, 2);
  const int64_t N = logits.size(0), L = logits.size(1);
  GRAFT_CHECK(target.dtype() == DType::Int64 && target.shape() == Shape{N}, op, "target must be Int64 [", N,
              "], got ", target);
  const std::vector<int64_t> t = target.to(Device::CPU).to_labels();
  std::vector<float> w(static_cast<size_t>(L), 1.0f);
  if (weight.defined()) {
    check_shape(op, "weight (one per class)", weight, {L});
    w = weight.to(Device::CPU).to_vector();
  }
  double D = r == Reduction::Mean ? 0 : 1;
  for (int64_t i = 0; i < N; ++i) {
    GRAFT_CHECK(t[i] >= 0 && t[i] < L, op, "target[", i, "] = ", t[i], " is out of range for ", L,
                " classes (labels must be in [0, ", L - 1, "]); check the labels and the last layer's outputs");
    if (r == Reduction::Mean) D += w[t[i]];
  }
  std::vector<float> C(static_cast<size_t>(N * L));
  for (int64_t i = 0; i < N; ++i) {
    for (int64_t j = 0; j < L; ++j) {
      const double on = j == t[i] ? (1 - e) * w[t[i]] : 0.0;
      C[i * L + j] = static_cast<float>((on + e / static_cast<double>(L) * w[j]) / D);
    }
  }
  return weighted_log_likelihood(logits, Tensor::from_vector({N, L}, C, logits.device()));
}

}  // namespace graft
