// src/optim/clip_grad.cpp — see clip_grad.h.
#include "optim/clip_grad.h"

#include <cmath>

#include "tensor/check.h"
#include "tensor/elementwise.h"

namespace graft {

namespace {
bool has_grad(const Tensor& p) { return p.defined() && p.requires_grad() && p.grad().defined(); }
}  // namespace

double grad_norm(const std::vector<Tensor>& params) {
  Tensor total;  // [] on the gradients' device
  for (const Tensor& p : params) {
    if (!has_grad(p)) continue;
    const Tensor g = p.grad();
    Tensor sq = sum_all(mul(g, g));
    total = total.defined() ? add(total, sq) : sq;
  }
  return total.defined() ? std::sqrt(static_cast<double>(total.item())) : 0.0;
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm) {
  GRAFT_CHECK(max_norm > 0, "clip_grad_norm_", "max_norm must be > 0, got ", max_norm);
  const double total = grad_norm(params);
  GRAFT_CHECK_DATA(std::isfinite(total), "clip_grad_norm_", "the gradients' norm is ", total,
                   " (a NaN or infinite gradient); lower the learning rate");
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1) scale_grads_(params, static_cast<float>(coef));
  return total;
}

void scale_grads_(const std::vector<Tensor>& params, float s) {
  for (const Tensor& p : params) {
    if (!has_grad(p)) continue;
    Tensor g = p.grad();
    scale_(g, s);
  }
}

}  // namespace graft
