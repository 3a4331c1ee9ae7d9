// src/data/augment.h — torchvision 0.14's automatic augmentation policies (TrivialAugmentWide,
// RandAugment, AutoAugment with the ImageNet policy) and RandomErasing.
//
// The ops run on uint8 images (HWC, C = 3 or 1) and reproduce what torchvision does to a PIL
// image (Pillow 9.4's C code: Geometry.c affine/scale, Filter.c 3x3 SMOOTH, Blend.c,
// ImageOps' LUTs), so they are bit-exact with torchvision's `_apply_op` on PIL images.
// The policies choose op, magnitude bin and sign with graft's Generator (torchvision's rules,
// not torch's random stream); their op lists and magnitude bins equal torchvision's
// `_augmentation_space` (the bins are torch.linspace's float32 values, see linspace_f32).
// RandomErasing works on the float [C,H,W] tensor after ToTensor + Normalize, as torchvision.
#pragma once

#include <string>
#include <vector>

#include "data/image.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace graft {

// ---- the ops (torchvision autoaugment._apply_op on a PIL image; fill 0, NEAREST) --------
// PIL Image.transform(AFFINE, m, NEAREST) with fill 0: out(x, y) = in(m0 x + m1 y + m2,
// m3 x + m4 y + m5) sampled at pixel centers (ImagingTransformAffine: the scaling path when
// m1 == m3 == 0, else 16.16 fixed point).
Image affine_pil(const Image& img, const double m[6]);
// torchvision F.affine's inverse matrix (functional._get_inverse_affine_matrix) for PIL.
void inverse_affine_matrix(double cx, double cy, double angle_deg, double tx, double ty, double scale,
                           double shear_x_deg, double shear_y_deg, double m[6]);
Image shear_x(const Image& img, double magnitude);     // F.affine(shear=[deg(atan(m)), 0], center=[0, 0])
Image shear_y(const Image& img, double magnitude);     // F.affine(shear=[0, deg(atan(m))], center=[0, 0])
Image translate_x(const Image& img, double magnitude); // F.affine(translate=[int(m), 0])
Image translate_y(const Image& img, double magnitude); // F.affine(translate=[0, int(m)])
Image adjust_sharpness(const Image& img, float factor);  // ImageEnhance.Sharpness: blend(SMOOTH(img), img, f)
Image posterize(const Image& img, int bits);             // ImageOps.posterize: v & ~(2^(8-bits) - 1)
Image solarize(const Image& img, double threshold);      // ImageOps.solarize: v < t ? v : 255 - v
Image autocontrast(const Image& img);                    // ImageOps.autocontrast(cutoff=0), per channel
Image equalize(const Image& img);                        // ImageOps.equalize, per channel
Image invert(const Image& img);                          // ImageOps.invert: 255 - v

// The op names of torchvision (_apply_op), in one enum.
enum class AugOp {
  Identity, ShearX, ShearY, TranslateX, TranslateY, Rotate, Brightness, Color, Contrast, Sharpness,
  Posterize, Solarize, AutoContrast, Equalize, Invert
};
const char* aug_op_name(AugOp op);
// _apply_op(img, op, magnitude): e.g. Brightness -> adjust_brightness(1 + m), Posterize -> int(m) bits.
Image apply_aug_op(const Image& img, AugOp op, double magnitude);

// ---- augmentation spaces (torchvision's _augmentation_space) -----------------------------
// torch.linspace(start, end, steps) in float32 as torch 1.13's CPU kernel computes it (scalar
// path with a fused multiply-add, 8-wide vector blocks as base + j * step).
std::vector<float> linspace_f32(float start, float end, int64_t steps);
struct AugSpaceEntry {
  AugOp op;
  std::vector<float> magnitudes;  // empty: the op takes no magnitude (torch.tensor(0.0))
  bool signed_ = false;           // magnitude negated with probability 1/2
};
enum class AugSpace { TrivialAugmentWide, RandAugment, AutoAugment };
// The dict of op -> (magnitudes, signed), in torchvision's order; image_h/w matter for the
// translations of RandAugment and AutoAugment (150/331 of the size).
std::vector<AugSpaceEntry> augmentation_space(AugSpace space, int64_t num_bins, int64_t image_h, int64_t image_w);

// ---- the policies ------------------------------------------------------------------------
// Each policy = draw the ops (*_ops: op + signed magnitude, the only random part) + apply them.
struct AugChoice { AugOp op; double magnitude; };
Image apply_aug_ops(const Image& img, const std::vector<AugChoice>& ops);
// TrivialAugmentWide(num_magnitude_bins=31): one op uniformly, one bin uniformly, sign 1/2.
std::vector<AugChoice> trivial_augment_wide_ops(Generator& gen, int64_t num_bins = 31);
Image trivial_augment_wide(const Image& img, Generator& gen, int64_t num_bins = 31);
// RandAugment(num_ops=2, magnitude=9, num_magnitude_bins=31): num_ops ops uniformly (with
// replacement), each at bin `magnitude`, sign 1/2. H, W: the image size (translation range).
std::vector<AugChoice> rand_augment_ops(int64_t H, int64_t W, Generator& gen, int64_t num_ops = 2, int64_t magnitude = 9,
                                        int64_t num_bins = 31);
Image rand_augment(const Image& img, Generator& gen, int64_t num_ops = 2, int64_t magnitude = 9, int64_t num_bins = 31);
// AutoAugment(IMAGENET): one of the 25 sub-policies; each of its two ops applies with its
// probability at its magnitude bin (of 10), sign 1/2.
struct AutoAugmentStep { AugOp op; double prob; int magnitude_id; };  // magnitude_id -1: none
const std::vector<std::pair<AutoAugmentStep, AutoAugmentStep>>& auto_augment_imagenet_policy();
std::vector<AugChoice> auto_augment_ops(int64_t H, int64_t W, Generator& gen);
Image auto_augment(const Image& img, Generator& gen);

// ---- RandomErasing (on the normalized float [C,H,W] tensor) ------------------------------
struct RandomErasingParams {
  float p = 0.5f;
  float scale_lo = 0.02f, scale_hi = 0.33f;  // erased area / image area
  float ratio_lo = 0.3f, ratio_hi = 3.3f;    // aspect h / w, sampled log-uniformly
  bool random_value = false;                 // value='random': N(0, 1) per element
  float value = 0.0f;
};
struct EraseBox { int64_t top = 0, left = 0, h = 0, w = 0; bool erase = false; };
// RandomErasing.get_params: 10 tries of area ~ U(scale) * H*W, log(ratio) ~ U(log ratio),
// h = round(sqrt(area * ratio)), w = round(sqrt(area / ratio)), accepted if h < H and w < W;
// top ~ U{0..H-h}, left ~ U{0..W-w}. No accepted try: erase = false (the image is kept).
EraseBox random_erasing_params(int64_t H, int64_t W, const RandomErasingParams& p, Generator& gen);
// F.erase: x[:, top:top+h, left:left+w] = value (or N(0, 1) noise).
void erase_(Tensor& chw, const EraseBox& box, const RandomErasingParams& p, Generator& gen);
// forward: with probability p (torch.rand(1) < p) erase one box.
void random_erasing_(Tensor& chw, const RandomErasingParams& p, Generator& gen);

}  // namespace graft
