// src/train/lr_find.cpp — see lr_find.h.
#include "train/lr_find.h"

#include <cmath>
#include <limits>

#include "tensor/check.h"

namespace graft {

namespace {
// The suggestions from the smoothed curve, as fastai: without the first tenth of the steps
// (the smoothing has not settled: early differences are noise) and the last 5 (the blow-up);
// np.gradient-style central differences against log(lr), one-sided at the ends.
void suggest(LrFindResult& r, int64_t steps) {
  const size_t first = static_cast<size_t>(steps / 10), n_all = r.smoothed.size();
  if (n_all < first + 5 + 3) return;
  const size_t last = n_all - 5;  // one past the last point used
  size_t best = first, steep = first;
  double steepest = std::numeric_limits<double>::infinity();
  for (size_t i = first; i < last; ++i) {
    if (r.smoothed[i] < r.smoothed[best]) best = i;
    const size_t a = i == first ? first : i - 1, b = i + 1 == last ? last - 1 : i + 1;
    const double g = (r.smoothed[b] - r.smoothed[a]) / (std::log(r.lrs[b]) - std::log(r.lrs[a]));
    if (g < steepest) steepest = g, steep = i;
  }
  r.steepest_lr = r.lrs[steep];
  r.min_lr_div10 = r.lrs[best] / 10;
}
}  // namespace

LrFindResult lr_find(Module& model, Optimizer& optimizer, const LossFn& loss, DataLoader& train, Device device,
                     const LrFindOptions& o) {
  GRAFT_CHECK(o.start_lr > 0 && o.end_lr > o.start_lr && o.steps >= 2, "lr_find",
              "need 0 < start_lr < end_lr and at least 2 steps, got ", o.start_lr, ", ", o.end_lr, ", ", o.steps);
  // What to put back afterwards.
  const NamedTensors live = model.state_dict();
  std::vector<Tensor> weights;
  for (const auto& [k, t] : live) weights.push_back(t.clone());
  const NamedTensors opt_state = optimizer.state();
  std::vector<float> base;
  for (const ParamGroup& g : optimizer.param_groups()) base.push_back(g.lr);
  const float momentum = optimizer.momentum_coefficient();

  LrFindResult r;
  double avg = 0, best = std::numeric_limits<double>::infinity();
  const double ratio = std::log(o.end_lr / o.start_lr) / static_cast<double>(o.steps - 1);
  model.train();
  for (int64_t epoch = 1; static_cast<int64_t>(r.lrs.size()) < o.steps && !r.diverged; ++epoch) {
    bool any = false;
    train.start_epoch(epoch);
    for (Batch b; static_cast<int64_t>(r.lrs.size()) < o.steps && !r.diverged && train.next(b);) {
      any = true;
      const int64_t i = static_cast<int64_t>(r.lrs.size());
      const double lr = o.start_lr * std::exp(ratio * static_cast<double>(i));
      for (size_t g = 0; g < base.size(); ++g)
        optimizer.param_groups()[g].lr = static_cast<float>(lr * base[g] / base.back());
      const double l = train_step(model, optimizer, loss, b.inputs.to(device), b.labels.to(device)).loss.item();
      if (!std::isfinite(l)) {
        r.diverged = true;
        break;
      }
      avg = o.beta * avg + (1 - o.beta) * l;
      const double smooth = avg / (1 - std::pow(o.beta, static_cast<double>(i + 1)));
      r.lrs.push_back(lr);
      r.losses.push_back(l);
      r.smoothed.push_back(smooth);
      best = std::min(best, smooth);
      if (i > 0 && smooth > o.diverge * best) r.diverged = true;
    }
    GRAFT_CHECK_DATA(any, "lr_find", "the training loader gave no batch");
  }

  for (size_t i = 0; i < live.size(); ++i) {
    Tensor t = live[i].second;
    t.copy_(weights[i]);
  }
  optimizer.load_state(opt_state);
  for (size_t g = 0; g < base.size(); ++g) optimizer.param_groups()[g].lr = base[g];
  optimizer.set_momentum_coefficient(momentum);
  suggest(r, o.steps);
  return r;
}

}  // namespace graft
