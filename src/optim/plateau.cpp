// src/optim/plateau.cpp — see plateau.h.
#include "optim/plateau.h"

#include <algorithm>

#include "tensor/check.h"

namespace graft {

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, const Options& o) : options(o), optimizer_(optimizer) {
  GRAFT_CHECK(o.factor > 0 && o.factor < 1, "ReduceLROnPlateau", "factor must be in (0, 1), got ", o.factor);
  GRAFT_CHECK(o.patience >= 0 && o.cooldown >= 0, "ReduceLROnPlateau", "patience and cooldown must be >= 0");
  GRAFT_CHECK(o.min_lrs.empty() || o.min_lrs.size() == optimizer.param_groups().size(), "ReduceLROnPlateau",
              "expected ", optimizer.param_groups().size(), " min_lrs (one per parameter group), got ", o.min_lrs.size());
}

void ReduceLROnPlateau::step(double metric) {
  if (metric < c_.best * (1 - options.threshold)) {
    c_.best = metric;
    c_.bad_epochs = 0;
  } else {
    ++c_.bad_epochs;  // NaN is never better: it counts as a bad epoch, as in PyTorch
  }
  if (c_.cooldown_left > 0) {
    --c_.cooldown_left;
    c_.bad_epochs = 0;  // bad epochs during the cooldown do not count
  }
  if (c_.bad_epochs > options.patience) {
    auto& groups = optimizer_.param_groups();
    for (size_t i = 0; i < groups.size(); ++i) {
      ParamGroup& g = groups[i];
      const double floor = options.min_lrs.empty() ? options.min_lr : options.min_lrs[i];
      const double old_lr = g.lr, new_lr = std::max(old_lr * options.factor, floor);
      if (old_lr - new_lr > options.eps) g.lr = static_cast<float>(new_lr);
    }
    c_.cooldown_left = options.cooldown;
    c_.bad_epochs = 0;
  }
}

}  // namespace graft
