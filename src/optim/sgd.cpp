// src/optim/sgd.cpp — see sgd.h.
#include "optim/sgd.h"

#include "tensor/check.h"

namespace graft {

GRAFT_DEFINE_KERNEL(kernels::sgd_update);

SGD::SGD(std::vector<ParamGroup> groups, float momentum_, float dampening_, bool nesterov_)
    : Optimizer(std::move(groups), "SGD"), momentum(momentum_), dampening(dampening_), nesterov(nesterov_) {
  GRAFT_CHECK(momentum >= 0, "SGD", "invalid momentum ", momentum, " (must be >= 0)");
  GRAFT_CHECK(!nesterov || (momentum > 0 && dampening == 0), "SGD",
              "nesterov momentum requires a momentum > 0 and zero dampening (got momentum ", momentum, ", dampening ",
              dampening, ")");
}

SGD::SGD(std::vector<Tensor> params, float lr, float momentum_, float dampening_, float weight_decay, bool nesterov_)
    : SGD(std::vector<ParamGroup>{ParamGroup{std::move(params), lr, weight_decay}}, momentum_, dampening_, nesterov_) {}

void SGD::step() {
  for_each_update([&](Tensor& p, const Tensor& grad, ParamState& s, const ParamGroup& group) {
    bool first = false;  // no buffer yet: PyTorch's first step sets buf = d
    Tensor buf = momentum != 0 ? state_buffer(s, "momentum_buffer", p, &first) : Tensor();
    kernels::sgd_update(p.device(), p, grad, buf,
                        SgdStep{group.lr, momentum, dampening, group.weight_decay, nesterov, first});
    ++s.step;
  });
}

NamedTensors SGD::state() const { return save_state(); }
void SGD::load_state(const NamedTensors& state) { restore_state(state, {"momentum_buffer"}); }

}  // namespace graft
