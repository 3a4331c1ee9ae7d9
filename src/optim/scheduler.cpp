// src/optim/scheduler.cpp — see scheduler.h.
#include "optim/scheduler.h"

#include <cmath>
#include <numbers>

#include "tensor/check.h"

namespace graft {

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(optimizer) {
  for (const auto& g : optimizer.param_groups()) base_lrs_.push_back(g.lr);
}

void LRScheduler::step() {
  ++epoch_;
  apply();
}

void LRScheduler::set_last_epoch(int64_t epoch) {
  GRAFT_CHECK(epoch >= 0, "LRScheduler::set_last_epoch", "epoch must be >= 0, got ", epoch);
  epoch_ = epoch;
  apply();
}

void LRScheduler::apply() {
  auto& groups = optimizer_.param_groups();
  GRAFT_CHECK(groups.size() == base_lrs_.size(), "LRScheduler", "the optimizer has ", groups.size(),
              " parameter groups but had ", base_lrs_.size(),
              " when the scheduler was made; make the scheduler after the groups");
  for (size_t g = 0; g < groups.size(); ++g) groups[g].lr = static_cast<float>(lr_at(base_lrs_[g], epoch_));
}

std::vector<float> LRScheduler::get_lr() const {
  std::vector<float> out;
  for (const auto& g : optimizer_.param_groups()) out.push_back(g.lr);
  return out;
}

StepLR::StepLR(Optimizer& optimizer, int64_t step_size_, float gamma_)
    : LRScheduler(optimizer), step_size(step_size_), gamma(gamma_) {
  GRAFT_CHECK(step_size > 0, "StepLR", "step_size must be > 0, got ", step_size);
}

double StepLR::lr_at(double base_lr, int64_t epoch) const {
  return base_lr * std::pow(static_cast<double>(gamma), static_cast<double>(epoch / step_size));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max_, float eta_min_)
    : LRScheduler(optimizer), T_max(T_max_), eta_min(eta_min_) {
  GRAFT_CHECK(T_max > 0, "CosineAnnealingLR", "T_max must be > 0, got ", T_max);
}

double CosineAnnealingLR::lr_at(double base_lr, int64_t epoch) const {
  const double e = eta_min;
  return e +
         (base_lr - e) * (1 + std::cos(std::numbers::pi * static_cast<double>(epoch) / static_cast<double>(T_max))) / 2;
}


// ---- per optimizer step ------------------------------------------------------------------
namespace {
// Cosine from `start` (pct 0) to `end` (pct 1), PyTorch's _annealing_cos.
double anneal_cos(double start, double end, double pct) {
  return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1);
}
}  // namespace

OneCycleLR::OneCycleLR(Optimizer& optimizer, std::vector<double> max_lrs, const Options& o)
    : LRScheduler(optimizer), options(o) {
  GRAFT_CHECK(o.total_steps > 0, "OneCycleLR", "total_steps must be > 0, got ", o.total_steps);
  GRAFT_CHECK(o.pct_start >= 0 && o.pct_start <= 1, "OneCycleLR", "pct_start must be in [0, 1], got ", o.pct_start);
  // PyTorch divides by the length of each phase: neither may be empty.
  const double rise_end = o.pct_start * static_cast<double>(o.total_steps) - 1;
  GRAFT_CHECK(rise_end > 0 && rise_end < static_cast<double>(o.total_steps - 1), "OneCycleLR", "pct_start ",
              o.pct_start, " of ", o.total_steps, " steps leaves a phase without steps; use more steps or a pct_start "
              "nearer 0.5");
  GRAFT_CHECK(o.div_factor > 0 && o.final_div_factor > 0, "OneCycleLR", "div_factor and final_div_factor must be > 0");
  GRAFT_CHECK(max_lrs.size() == base_lrs_.size(), "OneCycleLR", "expected ", base_lrs_.size(),
              " max lrs (one per parameter group), got ", max_lrs.size());
  GRAFT_CHECK(!o.cycle_momentum || optimizer.has_momentum(), "OneCycleLR",
              "cycle_momentum needs an optimizer with a momentum (SGD, Adam, AdamW)");
  base_lrs_ = std::move(max_lrs);
  apply();  // step 0: max_lr / div_factor, max_momentum
}

OneCycleLR::OneCycleLR(Optimizer& optimizer, double max_lr, const Options& o)
    : OneCycleLR(optimizer, std::vector<double>(optimizer.param_groups().size(), max_lr), o) {}

std::pair<int, double> OneCycleLR::phase(int64_t step) const {
  GRAFT_CHECK(step <= options.total_steps, "OneCycleLR", "stepped ", step + 1, " times, but total_steps is ",
              options.total_steps, " (count every optimizer step of every epoch)");
  const double s = static_cast<double>(step);
  const double rise_end = options.pct_start * static_cast<double>(options.total_steps) - 1;
  const double fall_end = static_cast<double>(options.total_steps - 1);
  if (s <= rise_end) return {0, s / rise_end};
  return {1, (s - rise_end) / (fall_end - rise_end)};
}

double OneCycleLR::lr_at(double max_lr, int64_t step) const {
  const double initial = max_lr / options.div_factor, min_lr = initial / options.final_div_factor;
  const auto [ph, pct] = phase(step);
  return ph == 0 ? anneal_cos(initial, max_lr, pct) : anneal_cos(max_lr, min_lr, pct);
}

double OneCycleLR::momentum_at(int64_t step) const {
  const auto [ph, pct] = phase(step);
  return ph == 0 ? anneal_cos(options.max_momentum, options.base_momentum, pct)
                 : anneal_cos(options.base_momentum, options.max_momentum, pct);
}

void OneCycleLR::apply() {
  LRScheduler::apply();
  if (options.cycle_momentum) optimizer_.set_momentum_coefficient(static_cast<float>(momentum_at(epoch_)));
}

WarmupCosineLR::WarmupCosineLR(Optimizer& optimizer, int64_t warmup, int64_t total, double start_factor_,
                               double eta_min_)
    : LRScheduler(optimizer), warmup_steps(warmup), total_steps(total), start_factor(start_factor_), eta_min(eta_min_) {
  GRAFT_CHECK(warmup > 0 && total > warmup, "WarmupCosineLR", "need 0 < warmup_steps < total_steps, got warmup ",
              warmup, " of ", total, " steps");
  GRAFT_CHECK(start_factor > 0 && start_factor <= 1, "WarmupCosineLR", "start_factor must be in (0, 1], got ",
              start_factor);
  apply();  // step 0: base_lr * start_factor (LinearLR's first value)
}

double WarmupCosineLR::lr_at(double base_lr, int64_t step) const {
  if (step < warmup_steps)
    return base_lr * (start_factor + (1 - start_factor) * static_cast<double>(step) / static_cast<double>(warmup_steps));
  const double e = static_cast<double>(step - warmup_steps), T = static_cast<double>(total_steps - warmup_steps);
  return eta_min + (base_lr - eta_min) * (1 + std::cos(std::numbers::pi * e / T)) / 2;
}

}  // namespace graft
