// src/optim/adam.cpp — see adam.h.
#include "optim/adam.h"

#include "tensor/check.h"

namespace graft {

GRAFT_DEFINE_KERNEL(kernels::adam_update);

AdamStep adam_step(float lr, float b1, float b2, float eps, float wd, bool decoupled, int64_t t) {
  const double bias_correction1 = 1 - std::pow(static_cast<double>(b1), static_cast<double>(t));
  const double bias_correction2 = 1 - std::pow(static_cast<double>(b2), static_cast<double>(t));
  return AdamStep{b1,
                  b2,
                  eps,
                  wd,
                  decoupled,
                  static_cast<float>(lr / bias_correction1),
                  static_cast<float>(std::sqrt(bias_correction2)),
                  static_cast<float>(1 - static_cast<double>(lr) * wd)};
}

Adam::Adam(std::vector<ParamGroup> groups, float b1, float b2, float eps_, bool amsgrad_, bool decoupled,
           const char* name)
    : Optimizer(std::move(groups), name), beta1(b1), beta2(b2), eps(eps_), amsgrad(amsgrad_), decoupled_(decoupled) {
  GRAFT_CHECK(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1, name, "betas must be in [0, 1), got (", b1, ", ", b2, ")");
  GRAFT_CHECK(eps >= 0, name, "invalid eps ", eps);
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
  for_each_update([&](Tensor& p, const Tensor& grad, ParamState& s, const ParamGroup& group) {
    Tensor m = state_buffer(s, "exp_avg", p);  // zero-initialized on first use, as PyTorch
    Tensor v = state_buffer(s, "exp_avg_sq", p);
    Tensor v_max = amsgrad ? state_buffer(s, "max_exp_avg_sq", p) : Tensor();
    ++s.step;
    kernels::adam_update(p.device(), p, grad, m, v, v_max,
                         adam_step(group.lr, beta1, beta2, eps, group.weight_decay, decoupled_, s.step));
  });
}

NamedTensors Adam::state() const { return save_state(); }
void Adam::load_state(const NamedTensors& state) { restore_state(state, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}); }

}  // namespace graft
