// src/data/transforms.h — image transforms that reproduce torchvision 0.14 on PIL images.
//
// All work on Image (HWC uint8, C = 3 or 1) except to_tensor/normalize, which produce the
// float [C,H,W] the network sees: x = u8 / 255, then (x - mean[c]) / std[c].
// Resize is PIL's antialiased bilinear (ImagingResample): separable, a triangle filter
// stretched by the downscale factor (support = max(1, in/out)), coefficients normalized and
// rounded to 22-bit integers, horizontal pass first, rounded and clipped to uint8, then the
// vertical pass. Random transforms take a Generator; the parameters are drawn with
// torchvision's rules (not its random stream: graft's numbers differ from torch's).
#pragma once

#include <array>
#include <cstdint>
#include <utility>

#include "data/image.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace graft {

// ---- deterministic geometry ------------------------------------------------------------
// PIL Image.resize(BILINEAR) to out_h x out_w (antialiased when shrinking).
Image resize(const Image& img, int64_t out_h, int64_t out_w);
// torchvision Resize(size) with one int: shorter side -> size, longer = int(size * long / short).
std::pair<int64_t, int64_t> resize_shorter_shape(int64_t h, int64_t w, int64_t size);  // -> {h, w}
Image resize_shorter(const Image& img, int64_t size);
// PIL crop: pixels outside the image are 0 (as torchvision's pad-then-crop with fill 0).
Image crop(const Image& img, int64_t top, int64_t left, int64_t h, int64_t w);
// torchvision CenterCrop: top = round((H - h) / 2) with Python's round-half-to-even.
Image center_crop(const Image& img, int64_t h, int64_t w);
Image hflip(const Image& img);
Image vflip(const Image& img);
// PIL rotate(angle degrees counter-clockwise, NEAREST, expand=False, fill 0) with PIL's
// 16.16 fixed-point affine sampling, as torchvision RandomRotation's default. Like PIL, 180
// degrees (and 90/270 on square images) are exact transposes.
Image rotate(const Image& img, double angle);

// ---- color (PIL ImageEnhance / torchvision F_pil.adjust_*) ------------------------------
Image adjust_brightness(const Image& img, float factor);  // blend(black, img, f)
Image adjust_contrast(const Image& img, float factor);    // blend(mean gray, img, f)
Image adjust_saturation(const Image& img, float factor);  // blend(gray, img, f)
Image adjust_hue(const Image& img, float hue_factor);     // HSV hue shift, hue_factor in [-0.5, 0.5]
// PIL's RGB -> L: (19595 r + 38470 g + 7471 b + 0x8000) >> 16.
uint8_t rgb_to_gray(uint8_t r, uint8_t g, uint8_t b);

// ---- random parameters (torchvision's sampling rules) ------------------------------------
struct CropBox { int64_t top = 0, left = 0, h = 0, w = 0; };
// RandomResizedCrop.get_params: 10 tries of area ~ U(scale) * H*W and log(ratio) ~ U(log ratio),
// w = round(sqrt(area * ratio)), h = round(sqrt(area / ratio)); accepted if it fits; otherwise a
// center crop with the ratio clamped into [ratio.first, ratio.second].
CropBox random_resized_crop_params(int64_t H, int64_t W, std::pair<float, float> scale,
                                   std::pair<float, float> ratio, Generator& gen);
Image random_resized_crop(const Image& img, int64_t out_h, int64_t out_w, Generator& gen,
                          std::pair<float, float> scale = {0.08f, 1.0f},
                          std::pair<float, float> ratio = {3.0f / 4.0f, 4.0f / 3.0f});
// ColorJitter: factors b,c,s ~ U[max(0,1-x), 1+x], hue ~ U[-h, h], applied in a random order.
struct ColorJitterParams { float brightness = 0, contrast = 0, saturation = 0, hue = 0; };
Image color_jitter(const Image& img, const ColorJitterParams& p, Generator& gen);

// ---- to tensor -------------------------------------------------------------------------
// [C,H,W] float32 = u8 / 255 (torchvision ToTensor).
Tensor to_tensor(const Image& img);
// Writes img as CHW floats into out (C*H*W floats), normalizing when mean/std are given.
void to_chw_float(const Image& img, float* out, const float* mean = nullptr, const float* std = nullptr);
// In place (x - mean[c]) / std[c] on a [C,H,W] tensor (torchvision Normalize).
void normalize_(Tensor& chw, const std::vector<float>& mean, const std::vector<float>& std);
inline constexpr std::array<float, 3> kImagenetMean{0.485f, 0.456f, 0.406f};
inline constexpr std::array<float, 3> kImagenetStd{0.229f, 0.224f, 0.225f};

}  // namespace graft
