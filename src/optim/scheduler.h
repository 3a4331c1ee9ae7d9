// src/optim/scheduler.h — learning-rate schedules, as torch.optim.lr_scheduler.
//
//   StepLR:            lr_e = base_lr * gamma^floor(e / step_size)
//   CosineAnnealingLR: lr_e = eta_min + (base_lr - eta_min) * (1 + cos(pi * e / T_max)) / 2
// e is the number of step() calls so far (PyTorch's last_epoch); base_lr is each group's lr
// when the scheduler was made. Call step() once per epoch, after the optimizer's steps.
//
// Per optimizer step (call step() after every optimizer.step(); e counts those steps):
//   OneCycleLR:     max_lr/div -> max_lr over the first pct_start of total_steps, then down to
//                   max_lr/div/final_div, both halves cosine: anneal(a, b, p) = b + (a-b)(1+cos(pi p))/2.
//                   The momentum (SGD's momentum, Adam's beta1) runs the other way, max -> base -> max.
//   WarmupCosineLR: LinearLR(start_factor, total_iters = warmup) then CosineAnnealingLR(T_max =
//                   total - warmup, eta_min), joined as SequentialLR(milestones = [warmup]):
//                   lr_e = base_lr * (f + (1 - f) * e / warmup)            e <  warmup
//                        = cosine(base_lr, e - warmup, total - warmup)     e >= warmup
// ReduceLROnPlateau (the validation loss decides, not a closed form) is in optim/plateau.h.
// Design note: graft uses the closed forms; PyTorch's step() uses recursive updates that give
// the same sequence (up to double rounding), including the cosine's rise after T_max.
#pragma once

#include <cstdint>
#include <utility>
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
  virtual void apply();  // sets the lrs of epoch_ (OneCycleLR also sets the momentum)
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

// torch.optim.lr_scheduler.OneCycleLR(max_lr, total_steps, pct_start, anneal_strategy='cos',
// cycle_momentum=True, base_momentum, max_momentum, div_factor, final_div_factor), two phases.
// Every group cycles up to the same max_lr (PyTorch's scalar max_lr) unless `max_lrs` gives one
// per group (fastai's discriminative lrs). Making it sets the lrs (max_lr / div_factor) and the
// momentum (max_momentum) of step 0, as PyTorch's constructor does; an optimizer without a
// momentum (Optimizer::has_momentum) is left alone with cycle_momentum = false, and refused otherwise.
class OneCycleLR : public LRScheduler {
 public:
  struct Options {
    int64_t total_steps = 0;  // optimizer steps in the whole run (epochs * steps per epoch)
    double pct_start = 0.3, div_factor = 25, final_div_factor = 1e4;
    bool cycle_momentum = true;
    double base_momentum = 0.85, max_momentum = 0.95;
  };
  OneCycleLR(Optimizer& optimizer, std::vector<double> max_lrs, const Options& options);
  OneCycleLR(Optimizer& optimizer, double max_lr, const Options& options);
  Options options;
  double momentum_at(int64_t step) const;  // the momentum (beta1) of a step

 protected:
  double lr_at(double max_lr, int64_t step) const override;  // base_lrs_ hold the max lrs
  void apply() override;

 private:
  // PyTorch's phase loop: the phase of `step` (0 rising lr, 1 falling) and how far into it.
  std::pair<int, double> phase(int64_t step) const;
};

class WarmupCosineLR : public LRScheduler {
 public:
  WarmupCosineLR(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double start_factor = 1.0 / 3,
                 double eta_min = 0);
  int64_t warmup_steps, total_steps;
  double start_factor, eta_min;

 protected:
  double lr_at(double base_lr, int64_t step) const override;
};

}  // namespace graft
