// src/train/fine_tune.h — fastai's `Learner.fine_tune` (fastai/callback/schedule.py), the pieces
// that `graft train --fine-tune E1,E2[,LR_MULT]` puts together around two calls of fit():
//
//   phase 1  freeze: only the head trains; the backbone's batch norm uses its running
//            statistics (a frozen BatchNorm2d does so by itself, layers/batch_norm2d.h).
//            E1 epochs of one-cycle up to base_lr, pct_start 0.99, div 25.
//   phase 2  base_lr /= 2; unfreeze: every layer trains, batch norm in training mode.
//            E2 epochs of one-cycle with discriminative lrs, pct_start 0.3, div 5:
//            fastai's slice(base_lr / lr_mult, base_lr) = even_mults over the layer groups,
//              max_lr_g = start * (stop / start)^(g / (G - 1))      g = 0 .. G-1, head last.
//   Both cycles end at max_lr / 1e5 (fastai's div_final); graft's OneCycleLR is PyTorch's, whose
//   last lr is max_lr / div / final_div, so final_div = 1e5 / div. Momentum (Adam's beta1, SGD's
//   momentum) cycles 0.95 -> 0.85 -> 0.95 as fastai's moms.
//
// Layer groups (fastai's model_meta splits of the torchvision bodies, with graft's head; the
// head is always the last group, "rest" is every parameter not in another group):
//   resnet18     conv1 bn1 layer1 layer2 | layer3 layer4 | head (fc)
//   vgg16        features.0-16 (conv blocks 1-3) | rest: features.17-28 (blocks 4-5), classifier.0
//                and classifier.3 (fc6, fc7) | head (classifier.6)
//   densenet121  features.conv0 norm0 denseblock1 transition1 denseblock2 | rest: transition2
//                denseblock3 transition3 denseblock4 norm5 | head (classifier)
//   spec models  rest (the whole body) | head — fastai's default_split for models it has no meta for
//
// Differences from fastai, on purpose: fastai's freeze keeps batch norm trainable in the frozen
// body (train_bn=True); graft freezes it (the spec, and what the feature cache needs).
// Phase 2 starts a fresh optimizer (fastai keeps the head's Adam moments). fastai's scheduler
// sets the lr before each batch at pos = step / total; PyTorch's OneCycleLR (graft's) puts the
// peak at step pct_start * total - 1: the curves are the same up to that one-step shift.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/module.h"
#include "optim/scheduler.h"

namespace graft {

struct FineTuneOptions {
  int64_t frozen_epochs = 1;  // E1 (fastai's freeze_epochs)
  int64_t epochs = 1;         // E2 (fastai's epochs)
  double base_lr = 2e-3;      // fastai's default; graft train passes --lr
  double lr_mult = 100;       // fastai's default
};
// "E1,E2[,LR_MULT]" -> options (base_lr left as it is). Throws naming the text.
FineTuneOptions parse_fine_tune(const std::string& text);

struct LayerGroup {
  std::string name;                  // e.g. "conv1 bn1 layer1 layer2"
  std::vector<std::string> modules;  // module names (a parameter is in the group if under one); empty: the rest
  std::vector<Tensor> params;        // filled by fine_tune_groups
  int64_t numel = 0;                 // parameter values in the group
};
// The layer groups of `model` (table above), with their parameters; every parameter of the
// model is in exactly one group. `head` is the name of the head module (e.g. "fc").
std::vector<LayerGroup> fine_tune_groups(const Module& model, const std::string& model_name, const std::string& head);

// fastai's even_mults: n values from start to stop, evenly spaced on a log scale.
std::vector<double> even_mults(double start, double stop, int64_t n);
// Phase 2's max lr of each of `groups` groups: even_mults(base_lr / 2 / lr_mult, base_lr / 2, groups).
std::vector<double> fine_tune_lrs(const FineTuneOptions& o, int64_t groups);
// The one-cycle options of phase 1 or 2 (pct_start, div, final_div; momentum 0.85..0.95).
OneCycleLR::Options fine_tune_one_cycle(int phase, int64_t total_steps);

// Phase 1: every parameter frozen but the head's. Phase 2: every parameter trainable.
void fine_tune_freeze(Module& model, int phase, const std::string& head);

}  // namespace graft
