// src/optim/adam.cpp — see adam.h.
#include "optim/adam.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace graft {

namespace {
// The CPU twin of cuda::adam_update. Bias corrections are computed in double (Python floats
// in torch.optim), then the update runs in float in torch's order of operations.
void adam_update_cpu(float* p, const float* g, float* m, float* v, float* v_max, int64_t n, float lr, float b1,
                     float b2, float eps, float wd, bool decoupled, int64_t step) {
  const double bias_correction1 = 1 - std::pow(static_cast<double>(b1), static_cast<double>(step));
  const double bias_correction2 = 1 - std::pow(static_cast<double>(b2), static_cast<double>(step));
  const float step_size = static_cast<float>(lr / bias_correction1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  const float decay = static_cast<float>(1 - static_cast<double>(lr) * wd);  // AdamW's factor
#pragma omp parallel for if (n > 32768)
  for (int64_t i = 0; i < n; ++i) {
    float gi = g[i];
    if (wd != 0) {
      if (decoupled)
        p[i] *= decay;
      else
        gi = gi + wd * p[i];
    }
    m[i] = m[i] * b1 + (1 - b1) * gi;
    v[i] = v[i] * b2 + (1 - b2) * gi * gi;
    float vi = v[i];
    if (v_max) vi = v_max[i] = std::max(v_max[i], v[i]);
    const float denom = std::sqrt(vi) / bc2_sqrt + eps;
    p[i] -= step_size * (m[i] / denom);
  }
}
}  // namespace

Adam::Adam(std::vector<ParamGroup> groups, float b1, float b2, float eps_, bool amsgrad_, bool decoupled,
           const char* name)
    : Optimizer(std::move(groups), name), beta1(b1), beta2(b2), eps(eps_), amsgrad(amsgrad_), decoupled_(decoupled) {
  if (!(b1 >= 0 && b1 < 1) || !(b2 >= 0 && b2 < 1))
    throw std::invalid_argument(name_ + ": betas must be in [0, 1), got (" + std::to_string(b1) + ", " +
                                std::to_string(b2) + ")");
  if (!(eps >= 0)) throw std::invalid_argument(name_ + ": invalid eps " + std::to_string(eps));
}

Adam::Adam(std::vector<ParamGroup> groups, float b1, float b2, float eps_, bool amsgrad_)
    : Adam(std::move(groups), b1, b2, eps_, amsgrad_, false, "Adam") {}

Adam::Adam(std::vector<Tensor> params, float lr, float b1, float b2, float eps_, float weight_decay, bool amsgrad_)
    : Adam(std::vector<ParamGroup>{ParamGroup{std::move(params), lr, weight_decay}}, b1, b2, eps_, amsgrad_, false,
           "Adam") {}

AdamW::AdamW(std::vector<ParamGroup> groups, float b1, float b2, float eps_, bool amsgrad_)
    : Adam(std::move(groups), b1, b2, eps_, amsgrad_, true, "AdamW") {}

AdamW::AdamW(std::vector<Tensor> params, float lr, float b1, float b2, float eps_, float weight_decay, bool amsgrad_)
    : Adam(std::vector<ParamGroup>{ParamGroup{std::move(params), lr, weight_decay}}, b1, b2, eps_, amsgrad_, true,
           "AdamW") {}

void Adam::step() {
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const ParamGroup& group = groups_[gi];
    for (size_t i = 0; i < group.params.size(); ++i) {
      Tensor p = group.params[i];
      if (!has_update(p)) continue;
      Tensor grad = p.grad();
      ParamState& s = param_state(gi, i);
      float* m = state_buffer(s, "exp_avg", p);  // zero-initialized on first use, as PyTorch
      float* v = state_buffer(s, "exp_avg_sq", p);
      float* v_max = amsgrad ? state_buffer(s, "max_exp_avg_sq", p) : nullptr;
      ++s.step;
      if (p.is_cuda())
        cuda::adam_update(p.data(), grad.data(), m, v, v_max, p.numel(), group.lr, beta1, beta2, eps,
                          group.weight_decay, decoupled_, s.step);
      else
        adam_update_cpu(p.data(), grad.data(), m, v, v_max, p.numel(), group.lr, beta1, beta2, eps, group.weight_decay,
                        decoupled_, s.step);
    }
  }
}

NamedTensors Adam::state() const { return save_state(); }
void Adam::load_state(const NamedTensors& state) { restore_state(state, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}); }

}  // namespace graft
