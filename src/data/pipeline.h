// src/data/pipeline.h — a transform pipeline described by a short text spec.
//
//   "resize=256,center_crop=224,normalize=imagenet"      (evaluation)
//   "random_resized_crop=224,hflip,normalize=imagenet"    (training)
//   "resize=64x64"                                        (H x W)
// Items (comma-separated, applied left to right; sizes are N or HxW):
//   resize=N|HxW  center_crop=N|HxW  random_resized_crop=N|HxW[:scale_lo:scale_hi]
//   hflip[=p]  vflip[=p]  rotation=DEGREES  color_jitter=b[:c[:s[:h]]]
//   normalize=imagenet | normalize=m0:m1:m2/s0:s1:s2
//   trivial_augment[=bins]  rand_augment[=num_ops:magnitude[:bins]]  auto_augment[=imagenet]
//     (torchvision's TrivialAugmentWide(31), RandAugment(2, 9, 31), AutoAugment(IMAGENET); augment.h)
//   random_erasing[=p[:scale_lo:scale_hi[:ratio_lo:ratio_hi[:value|random]]]]
//     (RandomErasing(0.5, (0.02, 0.33), (0.3, 3.3), 0) on the tensor, after Normalize wherever written)
// The image steps run on uint8 images; the result is always the float [C,H,W] tensor of
// torchvision's ToTensor (u8 / 255) followed by the optional Normalize.
// Each step knows whether it is random; the leading deterministic steps ("resize=256") can be
// cached by the loader so later epochs skip decoding.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "data/image.h"
#include "data/transforms.h"

namespace graft {

struct TransformStep {
  std::string text;  // the spec item, e.g. "resize=256"
  bool random = false;
  std::function<Image(const Image&, Generator&)> apply;
};

// A step on the float [C,H,W] tensor after ToTensor + Normalize (random_erasing).
struct TensorStep {
  std::string text;
  std::function<void(Tensor&, Generator&)> apply;
};

class Pipeline {
 public:
  Pipeline() = default;
  // Throws std::invalid_argument naming the bad item and listing the accepted ones.
  static Pipeline parse(const std::string& spec);

  std::vector<TransformStep> steps;
  std::vector<float> mean, std;  // empty: no normalization
  std::vector<TensorStep> tensor_steps;  // run after normalization, in order

  // Runs the tensor steps on the normalized [C,H,W] tensor.
  void apply_tensor(Tensor& chw, Generator& gen) const;

  // Runs steps [from, end) on an image.
  Image apply_image(const Image& img, Generator& gen, size_t from = 0) const;
  // Image steps + ToTensor + Normalize: [C,H,W] float.
  Tensor operator()(const Image& img, Generator& gen) const;
  // Number of leading steps without randomness (their output can be cached).
  size_t deterministic_prefix() const;
  std::string str() const;  // the spec, normalized
};

}  // namespace graft
