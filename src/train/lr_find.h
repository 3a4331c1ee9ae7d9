// src/train/lr_find.h — the learning-rate range test (Smith 2015; fastai's lr_find): train a
// few batches with an exponentially rising lr, watch the loss, then put the weights back.
//
//   lr_i      = start * (end / start)^(i / (steps - 1))          i = 0 .. steps-1, one batch each
//   avg_i     = beta * avg_{i-1} + (1 - beta) * loss_i;  smooth_i = avg_i / (1 - beta^(i+1))
//   stop when smooth_i > diverge * min smooth, or the loss is not finite
//   suggestions: steepest = the lr where d smooth / d log(lr) is most negative (fastai's
//                "steep"); minimum / 10 = a tenth of the lr of the lowest smoothed loss
//                (fastai's "lr_min"), the safer of the two; both leave out the first tenth
//                of the steps and the last 5, as fastai does
// With several parameter groups, every group's lr is scaled by the same factor (their ratios,
// e.g. a backbone at 1/10 of the head, stay); the lrs reported are the last group's.
// Afterwards the model's weights and buffers, the optimizer's state and the groups' lrs are
// those from before: the test leaves nothing behind.
#pragma once

#include <vector>

#include "train/fit.h"

namespace graft {

struct LrFindOptions {
  double start_lr = 1e-7, end_lr = 10;
  int64_t steps = 100;
  double beta = 0.98, diverge = 4;
};

struct LrFindResult {
  std::vector<double> lrs, losses, smoothed;  // one per batch trained
  bool diverged = false;                      // stopped early on a rising (or NaN) loss
  double steepest_lr = 0, min_lr_div10 = 0;   // the suggestions (0 when too few steps ran)
};

// Runs up to options.steps batches of `train` (epochs 1, 2, ... as needed) in training mode.
LrFindResult lr_find(Module& model, Optimizer& optimizer, const LossFn& loss, DataLoader& train, Device device,
                     const LrFindOptions& options = {});

}  // namespace graft
