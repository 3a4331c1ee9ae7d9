// src/optim/sgd.cpp — see sgd.h.
#include "optim/sgd.h"

#include <stdexcept>

namespace graft {

namespace {
// The CPU twin of cuda::sgd_update; the order of operations is torch.optim.SGD's.
void sgd_update_cpu(float* p, const float* g, float* buf, int64_t n, float lr, float momentum, float dampening,
                    float wd, bool nesterov, bool first) {
#pragma omp parallel for if (n > 32768)
  for (int64_t i = 0; i < n; ++i) {
    float d = wd != 0 ? g[i] + wd * p[i] : g[i];
    if (momentum != 0) {
      buf[i] = first ? d : buf[i] * momentum + (1 - dampening) * d;
      d = nesterov ? d + momentum * buf[i] : buf[i];
    }
    p[i] -= lr * d;
  }
}
}  // namespace

SGD::SGD(std::vector<ParamGroup> groups, float momentum_, float dampening_, bool nesterov_)
    : Optimizer(std::move(groups), "SGD"), momentum(momentum_), dampening(dampening_), nesterov(nesterov_) {
  if (momentum < 0)
    throw std::invalid_argument("SGD: invalid momentum " + std::to_string(momentum) + " (must be >= 0)");
  if (nesterov && (momentum <= 0 || dampening != 0))
    throw std::invalid_argument("SGD: nesterov momentum requires a momentum > 0 and zero dampening (got momentum " +
                                std::to_string(momentum) + ", dampening " + std::to_string(dampening) + ")");
}

SGD::SGD(std::vector<Tensor> params, float lr, float momentum_, float dampening_, float weight_decay, bool nesterov_)
    : SGD(std::vector<ParamGroup>{ParamGroup{std::move(params), lr, weight_decay}}, momentum_, dampening_, nesterov_) {}

void SGD::step() {
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const ParamGroup& group = groups_[gi];
    for (size_t i = 0; i < group.params.size(); ++i) {
      Tensor p = group.params[i];
      if (!has_update(p)) continue;
      Tensor grad = p.grad();
      ParamState& s = param_state(gi, i);
      bool first = false;  // no buffer yet: PyTorch's first step sets buf = d
      float* buf = momentum != 0 ? state_buffer(s, "momentum_buffer", p, &first) : nullptr;
      if (p.is_cuda())
        cuda::sgd_update(p.data(), grad.data(), buf, p.numel(), group.lr, momentum, dampening, group.weight_decay,
                         nesterov, first);
      else
        sgd_update_cpu(p.data(), grad.data(), buf, p.numel(), group.lr, momentum, dampening, group.weight_decay,
                       nesterov, first);
      ++s.step;
    }
  }
}

NamedTensors SGD::state() const { return save_state(); }
void SGD::load_state(const NamedTensors& state) { restore_state(state, {"momentum_buffer"}); }

}  // namespace graft
