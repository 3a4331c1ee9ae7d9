// src/train/mixup.cpp — see mixup.h.
#include "train/mixup.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "tensor/check.h"

namespace graft {

CutmixBox cutmix_box(int64_t H, int64_t W, double lam, int64_t cy, int64_t cx) {
  const double ratio = std::sqrt(1 - lam);
  const int64_t cut_h = static_cast<int64_t>(static_cast<double>(H) * ratio);  // int(): truncation
  const int64_t cut_w = static_cast<int64_t>(static_cast<double>(W) * ratio);
  CutmixBox b;
  b.y0 = std::clamp<int64_t>(cy - cut_h / 2, 0, H);
  b.y1 = std::clamp<int64_t>(cy + cut_h / 2, 0, H);
  b.x0 = std::clamp<int64_t>(cx - cut_w / 2, 0, W);
  b.x1 = std::clamp<int64_t>(cx + cut_w / 2, 0, W);
  b.lam = 1.0 - static_cast<double>((b.y1 - b.y0) * (b.x1 - b.x0)) / static_cast<double>(H * W);
  return b;
}

Tensor mixup_targets(const Tensor& labels, int64_t L, double lam, double smoothing) {
  const std::vector<int64_t> y = labels.to(Device::CPU).to_labels();
  const int64_t N = static_cast<int64_t>(y.size());
  // timm: off = s / L, on = 1 - s + off, in float32; y1 * lam + y2 * (1 - lam).
  const float off = static_cast<float>(smoothing / static_cast<double>(L));
  const float on = static_cast<float>(1.0 - smoothing + static_cast<double>(off));
  const float a = static_cast<float>(lam), b = static_cast<float>(1.0 - lam);
  std::vector<float> t(static_cast<size_t>(N * L));
  for (int64_t i = 0; i < N; ++i) {
    GRAFT_CHECK(y[i] >= 0 && y[i] < L, "mixup_targets", "label ", y[i], " of row ", i, " is out of range for ", L,
                " classes");
    const int64_t k = y[N - 1 - i];  // the flipped partner's label
    for (int64_t j = 0; j < L; ++j) t[i * L + j] = (j == y[i] ? on : off) * a + (j == k ? on : off) * b;
  }
  return Tensor::from_vector({N, L}, t);
}

void mixup_inputs_(Tensor& x, double lam) {
  GRAFT_CHECK(x.device() == Device::CPU && x.dim() >= 2, "mixup_inputs_", "expected a CPU batch [N, ...], got ", x);
  const int64_t N = x.size(0), per = x.numel() / N;
  const Tensor original = x.clone();
  const float *src = original.data(), a = static_cast<float>(lam), b = static_cast<float>(1.0 - lam);
  float* dst = x.data();
  for (int64_t i = 0; i < N; ++i) {
    const float *xi = src + i * per, *xf = src + (N - 1 - i) * per;
    for (int64_t k = 0; k < per; ++k) dst[i * per + k] = xi[k] * a + xf[k] * b;  // timm's x*lam + flip(x)*(1-lam)
  }
}

void cutmix_inputs_(Tensor& x, const CutmixBox& box) {
  GRAFT_CHECK(x.device() == Device::CPU && x.dim() == 4, "cutmix_inputs_",
              "cutmix needs a CPU batch of images [N,C,H,W], got ", x, " (use mixup for feature rows)");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const Tensor original = x.clone();
  const float* src = original.data();
  float* dst = x.data();
  for (int64_t i = 0; i < N; ++i)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = box.y0; h < box.y1; ++h)
        for (int64_t w = box.x0; w < box.x1; ++w)
          dst[((i * C + c) * H + h) * W + w] = src[(((N - 1 - i) * C + c) * H + h) * W + w];
}

Mixup::Mixup(const MixupOptions& o, int64_t num_classes) : options(o), num_classes_(num_classes) {
  GRAFT_CHECK(o.mixup_alpha >= 0 && o.cutmix_alpha >= 0, "Mixup", "alphas must be >= 0, got mixup ", o.mixup_alpha,
              ", cutmix ", o.cutmix_alpha);
  GRAFT_CHECK(o.prob >= 0 && o.prob <= 1 && o.switch_prob >= 0 && o.switch_prob <= 1, "Mixup",
              "prob and switch_prob must be in [0, 1]");
  GRAFT_CHECK(o.label_smoothing >= 0 && o.label_smoothing < 1, "Mixup", "label smoothing must be in [0, 1), got ",
              o.label_smoothing);
  GRAFT_CHECK(num_classes >= 2, "Mixup", "needs at least 2 classes, got ", num_classes);
}

void Mixup::on_batch_begin(FitState& s, Batch& b) {
  // One generator per batch, from (seed, epoch, batch number): see the design note.
  std::seed_seq seq{static_cast<uint64_t>(options.seed), static_cast<uint64_t>(s.epoch), static_cast<uint64_t>(b.number)};
  std::mt19937_64 rng(seq);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  auto beta = [&](double alpha) {  // Beta(a, a) = X / (X + Y), X, Y ~ Gamma(a, 1)
    const double x = std::gamma_distribution<double>(alpha, 1.0)(rng), y = std::gamma_distribution<double>(alpha, 1.0)(rng);
    return x / (x + y);
  };
  double lam = 1;
  bool cutmix = false;
  const bool on = options.mixup_alpha > 0 || options.cutmix_alpha > 0;
  if (on && uniform(rng) < options.prob) {  // timm's _params_per_batch
    if (options.mixup_alpha > 0 && options.cutmix_alpha > 0) cutmix = uniform(rng) < options.switch_prob;
    else cutmix = options.cutmix_alpha > 0;
    lam = beta(cutmix ? options.cutmix_alpha : options.mixup_alpha);
  }
  if (lam != 1) {
    if (cutmix) {
      GRAFT_CHECK(b.inputs.dim() == 4, "Mixup", "cutmix needs images [N,C,H,W], got ", b.inputs.shape(),
                  " (features: use mixup only)");
      const int64_t H = b.inputs.size(2), W = b.inputs.size(3);
      const int64_t cy = std::uniform_int_distribution<int64_t>(0, H - 1)(rng);
      const int64_t cx = std::uniform_int_distribution<int64_t>(0, W - 1)(rng);
      const CutmixBox box = cutmix_box(H, W, lam, cy, cx);
      cutmix_inputs_(b.inputs, box);
      lam = box.lam;
    } else {
      mixup_inputs_(b.inputs, lam);
    }
  }
  last_lam = lam;
  last_cutmix = cutmix;
  b.targets = mixup_targets(b.labels, num_classes_, lam, options.label_smoothing);
}

}  // namespace graft
