// src/optim/plateau.h — ReduceLROnPlateau, as torch.optim.lr_scheduler.ReduceLROnPlateau
// (mode 'min', threshold_mode 'rel'): lower the lr when a metric stops falling.
//
//   better    = metric < best * (1 - threshold)          (best starts at +inf)
//   bad       = better ? 0 : bad + 1;   in cooldown: cooldown_left -= 1, bad = 0
//   bad > patience:  lr = max(lr * factor, min_lr) per group (unless that changes it by <= eps),
//                    cooldown_left = cooldown, bad = 0
// Call step(metric) once per epoch with the validation loss. It is not a closed form of the
// epoch (it depends on the losses), so a resumed run restores its counters from state().
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "optim/optimizer.h"

namespace graft {

class ReduceLROnPlateau {
 public:
  struct Options {
    double factor = 0.1;
    int64_t patience = 10;
    double threshold = 1e-4;  // relative
    int64_t cooldown = 0;
    double min_lr = 0;            // the floor of every group's lr ...
    std::vector<double> min_lrs;  // ... or one per group (PyTorch's list form)
    double eps = 1e-8;
  };
  ReduceLROnPlateau(Optimizer& optimizer, const Options& options);
  void step(double metric);
  Options options;

  // What a checkpoint keeps (PyTorch's best, num_bad_epochs, cooldown_counter).
  struct Counters {
    double best = std::numeric_limits<double>::infinity();
    int64_t bad_epochs = 0, cooldown_left = 0;
  };
  const Counters& counters() const { return c_; }
  void set_counters(const Counters& c) { c_ = c; }

 private:
  Optimizer& optimizer_;
  Counters c_;
};

}  // namespace graft
