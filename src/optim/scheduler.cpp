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

}  // namespace graft
