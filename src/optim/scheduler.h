// src/optim/scheduler.h — learning-rate schedules per epoch, as torch.optim.lr_scheduler.
//
//   StepLR:            lr_e = base_lr * gamma^floor(e / step_size)
//   CosineAnnealingLR: lr_e = eta_min + (base_lr - eta_min) * (1 + cos(pi * e / T_max)) / 2
// e is the number of step() calls so far (PyTorch's last_epoch); base_lr is each group's lr
// when the scheduler was made. Call step() once per epoch, after the optimizer's steps.
// Design note: graft uses the closed forms; PyTorch's step() uses recursive updates that give
// the same sequence (up to double rounding), including the cosine's rise after T_max.
#pragma once

#include <cstdint>
#include <vector>

#include "optim/optimizer.h"

namespace graft {

class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& optimizer);
  virtual ~LRScheduler() = default;
  void step();                        // next epoch: sets every group's lr
  std::vector<float> get_lr() const;  // the groups' current learning rates (PyTorch's get_last_lr)
  int64_t last_epoch() const { return epoch_; }
  void set_last_epoch(int64_t epoch);  // resuming from a checkpoint: jump to `epoch` and set the lrs

 protected:
  virtual double lr_at(double base_lr, int64_t epoch) const = 0;  // the closed form
  void apply();
  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  int64_t epoch_ = 0;
};

class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, float gamma = 0.1f);
  int64_t step_size;
  float gamma;

 protected:
  double lr_at(double base_lr, int64_t epoch) const override;
};

class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, float eta_min = 0);
  int64_t T_max;
  float eta_min;

 protected:
  double lr_at(double base_lr, int64_t epoch) const override;
};

}  // namespace graft
