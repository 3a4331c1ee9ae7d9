// src/train/mixup.h — mixup and cutmix at batch level, with timm's semantics (timm.data.Mixup,
// mode 'batch', correct_lam True).
//
// Per batch, with probability `prob` (else lam = 1, nothing is mixed):
//   lam ~ Beta(alpha, alpha)   (alpha of cutmix with probability switch_prob when both are on)
//   mixup:  x = lam * x + (1 - lam) * flip(x)          flip: sample i pairs with sample N-1-i
//   cutmix: a box of (1 - lam) of the image area, sides H*sqrt(1-lam) and W*sqrt(1-lam) (int),
//           centred at a uniform pixel (cy, cx) and clipped to the image, takes flip(x)'s
//           pixels; then lam = 1 - box area / (H*W), the share of the image really kept.
//   targets = lam * onehot(y) + (1 - lam) * onehot(flip(y)), one-hots smoothed as timm's
//           mixup_target: on = 1 - s + s/L, off = s/L (label smoothing s folded in).
// The loss is then soft_target_cross_entropy (layers/soft_targets.h). An odd batch (an epoch's
// last) mixes its middle sample with itself: timm asserts an even batch, graft allows it.
// Design note: the draws of a batch come from a generator seeded by (seed, epoch, batch number),
// like the loader's augmentation, so a resumed run mixes exactly as an uninterrupted one.
// Shapes: inputs [N,C,H,W] (mixup also takes [N,F] features), labels Int64 [N] -> targets [N,L].
#pragma once

#include <cstdint>

#include "train/fit.h"

namespace graft {

struct MixupOptions {
  double mixup_alpha = 0, cutmix_alpha = 0;  // 0: off (both 0: only label smoothing)
  double prob = 1.0;                         // timm's mixup_prob: the chance a batch is mixed at all
  double switch_prob = 0.5;                  // with both alphas: the chance of cutmix rather than mixup
  double label_smoothing = 0;
  uint64_t seed = 0;
};

struct CutmixBox {
  int64_t y0, y1, x0, x1;  // rows [y0, y1), columns [x0, x1)
  double lam;              // 1 - area / (H*W)
};
// timm's rand_bbox (margin 0) for the box centre (cy, cx), with lam corrected by the clipped area.
CutmixBox cutmix_box(int64_t H, int64_t W, double lam, int64_t cy, int64_t cx);
// labels Int64 [N] -> [N,L]: lam * smoothed onehot(y) + (1 - lam) * smoothed onehot(flip(y)).
Tensor mixup_targets(const Tensor& labels, int64_t L, double lam, double smoothing);
// In place, CPU: x = lam * x + (1 - lam) * flip(x)   (x: [N, ...])
void mixup_inputs_(Tensor& x, double lam);
// In place, CPU: x[:, :, y0:y1, x0:x1] = flip(x)[:, :, y0:y1, x0:x1]   (x: [N,C,H,W])
void cutmix_inputs_(Tensor& x, const CutmixBox& box);

// The callback: mixes every training batch (on the CPU, before it moves to the device) and
// sets its soft targets.
class Mixup : public Callback {
 public:
  Mixup(const MixupOptions& options, int64_t num_classes);
  void on_batch_begin(FitState& s, Batch& b) override;
  MixupOptions options;
  // The last batch's draw (for tests and logs): lam after correction, and whether it was cutmix.
  double last_lam = 1;
  bool last_cutmix = false;

 private:
  int64_t num_classes_;
};

}  // namespace graft
