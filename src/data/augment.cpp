// src/data/augment.cpp — see augment.h. The ops follow Pillow 9.4's C code (Geometry.c
// ImagingTransformAffine / ImagingScaleAffine / affine_fixed, Filter.c ImagingFilter3x3,
// Blend.c, ImageOps.py) and torchvision 0.14's autoaugment.py / functional.py.
//
// Pillow's Debian build targets baseline x86-64 (no FMA), so each a * b + c below is rounded
// twice; graft builds with -march=native, where GCC would fuse them by default. Fusing would
// flip rare .5 cases, so contraction is off in this file (the linspace emulation uses std::fma
// explicitly because torch's kernel *is* fused).
#pragma GCC optimize("fp-contract=off")
#include "data/augment.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "data/transforms.h"

namespace graft {

// ================================ geometry ==============================================
namespace {
// Geometry.c: COORD(v) = v < 0 ? -1 : (int)v;  FLOOR(v) = v < 0 ? (int)floor(v) : (int)v.
inline int coord(double v) { return v < 0.0 ? -1 : int(v); }
inline int fix16(double v) {  // FIX(v) = FLOOR(v * 65536.0 + 0.5)
  double t = v * 65536.0 + 0.5;
  return t < 0.0 ? int(std::floor(t)) : int(t);
}
bool check_fixed(const double a[6], int x, int y) {
  return std::fabs(x * a[0] + y * a[1] + a[2]) < 32768.0 && std::fabs(x * a[3] + y * a[4] + a[5]) < 32768.0;
}
inline void copy_px(const Image& in, int64_t yi, int64_t xi, Image& out, int64_t y, int64_t x) {
  for (int64_t c = 0; c < in.C; ++c) out.at(y, x, c) = in.at(yi, xi, c);
}
}  // namespace

Image affine_pil(const Image& img, const double a[6]) {
  const int xsize = int(img.W), ysize = int(img.H);
  Image out(img.H, img.W, img.C);  // Image.new(mode, size, fillcolor=0)
  if (a[1] == 0 && a[3] == 0) {
    // ImagingScaleAffine: the x positions tabulated once, rows mapped by COORD(yo).
    std::vector<int> xintab(static_cast<size_t>(xsize), 0);
    double xo = a[2] + a[0] * 0.5, yo = a[5] + a[4] * 0.5;
    int xmin = xsize, xmax = 0;
    for (int x = 0; x < xsize; ++x) {
      int xin = coord(xo);
      if (xin >= 0 && xin < xsize) {
        xmax = x + 1;
        if (x < xmin) xmin = x;
        xintab[static_cast<size_t>(x)] = xin;
      }
      xo += a[0];
    }
    for (int y = 0; y < ysize; ++y) {
      int yi = coord(yo);
      if (yi >= 0 && yi < ysize)
        for (int x = xmin; x < xmax; ++x) copy_px(img, yi, xintab[static_cast<size_t>(x)], out, y, x);
      yo += a[4];
    }
    return out;
  }
  if (check_fixed(a, 0, 0) && check_fixed(a, xsize, ysize) && check_fixed(a, 0, ysize) && check_fixed(a, xsize, 0)) {
    // affine_fixed: 16.16 fixed point, sampled at pixel centers.
    const int a0 = fix16(a[0]), a1 = fix16(a[1]), a3 = fix16(a[3]), a4 = fix16(a[4]);
    int a2 = fix16(a[2] + a[0] * 0.5 + a[1] * 0.5), a5 = fix16(a[5] + a[3] * 0.5 + a[4] * 0.5);
    for (int y = 0; y < ysize; ++y, a2 += a1, a5 += a4) {
      int xx = a2, yy = a5;
      for (int x = 0; x < xsize; ++x, xx += a0, yy += a3) {
        int xin = xx >> 16, yin = yy >> 16;  // arithmetic shift: floor
        if (xin >= 0 && xin < xsize && yin >= 0 && yin < ysize) copy_px(img, yin, xin, out, y, x);
      }
    }
    return out;
  }
  // The floating-point path (coordinates beyond +-32768).
  double xo = a[2] + a[1] * 0.5 + a[0] * 0.5, yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
  for (int y = 0; y < ysize; ++y, xo += a[1], yo += a[4]) {
    double xx = xo, yy = yo;
    for (int x = 0; x < xsize; ++x, xx += a[0], yy += a[3]) {
      int xin = coord(xx), yin = coord(yy);
      if (xin >= 0 && xin < xsize && yin >= 0 && yin < ysize) copy_px(img, yin, xin, out, y, x);
    }
  }
  return out;
}

void inverse_affine_matrix(double cx, double cy, double angle_deg, double tx, double ty, double scale,
                           double shear_x_deg, double shear_y_deg, double m[6]) {
  // functional._get_inverse_affine_matrix, term by term (math.radians = x * (pi / 180)).
  const double rad = M_PI / 180.0;
  const double rot = angle_deg * rad, sx = shear_x_deg * rad, sy = shear_y_deg * rad;
  const double a = std::cos(rot - sy) / std::cos(sy);
  const double b = -std::cos(rot - sy) * std::tan(sx) / std::cos(sy) - std::sin(rot);
  const double c = std::sin(rot - sy) / std::cos(sy);
  const double d = -std::sin(rot - sy) * std::tan(sx) / std::cos(sy) + std::cos(rot);
  m[0] = d / scale; m[1] = -b / scale; m[2] = 0.0 / scale;
  m[3] = -c / scale; m[4] = a / scale; m[5] = 0.0 / scale;
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
}

namespace {
double degrees(double r) { return r * (180.0 / M_PI); }  // CPython math.degrees
Image affine_op(const Image& img, double cx, double cy, double tx, double ty, double shx, double shy) {
  double m[6];
  inverse_affine_matrix(cx, cy, 0.0, tx, ty, 1.0, shx, shy, m);
  return affine_pil(img, m);
}
}  // namespace

Image shear_x(const Image& img, double mag) { return affine_op(img, 0, 0, 0, 0, degrees(std::atan(mag)), 0.0); }
Image shear_y(const Image& img, double mag) { return affine_op(img, 0, 0, 0, 0, 0.0, degrees(std::atan(mag))); }
// F.affine's PIL center is [W * 0.5, H * 0.5]; translate is int(magnitude) (toward zero).
Image translate_x(const Image& img, double mag) {
  return affine_op(img, double(img.W) * 0.5, double(img.H) * 0.5, double(int64_t(mag)), 0, 0.0, 0.0);
}
Image translate_y(const Image& img, double mag) {
  return affine_op(img, double(img.W) * 0.5, double(img.H) * 0.5, 0, double(int64_t(mag)), 0.0, 0.0);
}

// ================================ color / LUT ops =========================================
namespace {
// Blend.c ImagingBlend (float alpha; truncated; clipped only when extrapolating).
inline uint8_t blend(uint8_t a, uint8_t b, float alpha) {
  float t = float(int(a)) + alpha * float(int(b) - int(a));
  if (alpha >= 0.0f && alpha <= 1.0f) return uint8_t(t);
  if (t <= 0.0f) return 0;
  if (t >= 255.0f) return 255;
  return uint8_t(t);
}
inline uint8_t clip8f(float v) { return v <= 0.0f ? 0 : v >= 255.0f ? 255 : uint8_t(v); }  // Filter.c clip8

// ImageFilter.SMOOTH = 3x3 kernel (1 1 1 / 1 5 1 / 1 1 1) / 13 (ImagingFilter3x3): the kernel is
// divided in float, sums start at offset + 0.5 and add the three row terms (each row's three
// products summed left to right); border rows and columns are copied unchanged.
Image smooth(const Image& img) {
  if (img.H < 3 || img.W < 3) return img;  // ImagingFilter returns a copy
  const float k1 = 1.0f / 13.0f, k5 = 5.0f / 13.0f;
  const float kern[9] = {k1, k1, k1, k1, k5, k1, k1, k1, k1};
  Image out = img;
  const int64_t C = img.C;
  for (int64_t y = 1; y < img.H - 1; ++y) {
    const uint8_t *in_1 = img.row(y - 1), *in0 = img.row(y), *in1 = img.row(y + 1);
    uint8_t* o = out.row(y);
    for (int64_t x = 1; x < img.W - 1; ++x)
      for (int64_t c = 0; c < C; ++c) {
        auto row3 = [&](const uint8_t* r, const float* k) {
          const int64_t i = x * C + c;
          return float(r[i - C]) * k[0] + float(r[i]) * k[1] + float(r[i + C]) * k[2];
        };
        float ss = 0.0f + 0.5f;
        ss += row3(in1, &kern[0]);
        ss += row3(in0, &kern[3]);
        ss += row3(in_1, &kern[6]);
        o[x * C + c] = clip8f(ss);
      }
  }
  return out;
}

Image apply_lut(const Image& img, const std::vector<int>& lut) {  // lut: 256 per channel (or 256 shared)
  Image out(img.H, img.W, img.C);
  const size_t per = lut.size() == 256 ? 0 : 256;
  for (size_t i = 0; i < img.data.size(); ++i) {
    int v = lut[per * (i % size_t(img.C)) + img.data[i]];
    out.data[i] = uint8_t(std::clamp(v, 0, 255));  // Image.point: CLIP8 of the table
  }
  return out;
}

std::vector<std::vector<int64_t>> histograms(const Image& img) {
  std::vector<std::vector<int64_t>> h(static_cast<size_t>(img.C), std::vector<int64_t>(256, 0));
  for (size_t i = 0; i < img.data.size(); ++i) ++h[i % size_t(img.C)][img.data[i]];
  return h;
}
}  // namespace

Image adjust_sharpness(const Image& img, float f) {
  Image deg = smooth(img);
  Image out(img.H, img.W, img.C);
  for (size_t i = 0; i < img.data.size(); ++i) out.data[i] = blend(deg.data[i], img.data[i], f);
  return out;
}

Image posterize(const Image& img, int bits) {
  if (bits < 0 || bits > 8) throw std::invalid_argument("posterize: bits " + std::to_string(bits) + " is not in [0, 8]");
  const int mask = ~((1 << (8 - bits)) - 1);
  std::vector<int> lut(256);
  for (int i = 0; i < 256; ++i) lut[i] = i & mask;
  return apply_lut(img, lut);
}

Image solarize(const Image& img, double threshold) {
  std::vector<int> lut(256);
  for (int i = 0; i < 256; ++i) lut[i] = double(i) < threshold ? i : 255 - i;
  return apply_lut(img, lut);
}

Image invert(const Image& img) {
  std::vector<int> lut(256);
  for (int i = 0; i < 256; ++i) lut[i] = 255 - i;
  return apply_lut(img, lut);
}

Image autocontrast(const Image& img) {
  // ImageOps.autocontrast(cutoff=0, ignore=None): lo/hi = first/last used level per band,
  // scale = 255 / (hi - lo), offset = -lo * scale, lut = int(ix * scale + offset) clipped.
  std::vector<int> lut;
  for (const auto& h : histograms(img)) {
    int lo = 0, hi = 255;
    while (lo < 255 && !h[lo]) ++lo;
    while (hi > 0 && !h[hi]) --hi;
    if (hi <= lo) {
      for (int i = 0; i < 256; ++i) lut.push_back(i);
      continue;
    }
    const double scale = 255.0 / double(hi - lo), offset = -double(lo) * scale;
    for (int ix = 0; ix < 256; ++ix) lut.push_back(std::clamp(int(double(ix) * scale + offset), 0, 255));
  }
  return apply_lut(img, lut);
}

Image equalize(const Image& img) {
  // ImageOps.equalize: step = (sum of the used bins - the last used bin) // 255; lut[i] =
  // (step // 2 + sum_{j < i} h[j]) // step. One or no used level, or step 0: identity.
  std::vector<int> lut;
  for (const auto& h : histograms(img)) {
    int64_t total = 0, last = 0, used = 0;
    for (int i = 0; i < 256; ++i)
      if (h[i]) { total += h[i]; last = h[i]; ++used; }
    const int64_t step = used <= 1 ? 0 : (total - last) / 255;
    if (!step) {
      for (int i = 0; i < 256; ++i) lut.push_back(i);
      continue;
    }
    int64_t n = step / 2;
    for (int i = 0; i < 256; ++i) {
      lut.push_back(int(n / step));
      n += h[i];
    }
  }
  return apply_lut(img, lut);
}

// ================================ _apply_op ===============================================
const char* aug_op_name(AugOp op) {
  static const char* names[] = {"Identity", "ShearX",    "ShearY",   "TranslateX", "TranslateY",
                                "Rotate",   "Brightness", "Color",    "Contrast",   "Sharpness",
                                "Posterize", "Solarize",  "AutoContrast", "Equalize", "Invert"};
  return names[int(op)];
}

Image apply_aug_op(const Image& img, AugOp op, double m) {
  switch (op) {
    case AugOp::Identity: return img;
    case AugOp::ShearX: return shear_x(img, m);
    case AugOp::ShearY: return shear_y(img, m);
    case AugOp::TranslateX: return translate_x(img, m);
    case AugOp::TranslateY: return translate_y(img, m);
    case AugOp::Rotate: return rotate(img, m);
    // The factor 1 + m is a Python float; Pillow's blend takes it as a C float.
    case AugOp::Brightness: return adjust_brightness(img, float(1.0 + m));
    case AugOp::Color: return adjust_saturation(img, float(1.0 + m));
    case AugOp::Contrast: return adjust_contrast(img, float(1.0 + m));
    case AugOp::Sharpness: return adjust_sharpness(img, float(1.0 + m));
    case AugOp::Posterize: return posterize(img, int(m));
    case AugOp::Solarize: return solarize(img, m);
    case AugOp::AutoContrast: return autocontrast(img);
    case AugOp::Equalize: return equalize(img);
    case AugOp::Invert: return invert(img);
  }
  return img;
}

// ============================== augmentation spaces =======================================
std::vector<float> linspace_f32(float start, float end, int64_t steps) {
  // aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp (torch 1.13), AVX2 build: step in
  // float; the scalar lambda returns start + step * i below steps / 2, else
  // end - step * (steps - i - 1), compiled to one fused multiply-add; cpu_serial_kernel_vec runs
  // pairs of 8-float vectors first, each Vectorized::arange(base, step) = base + j * step.
  std::vector<float> out(static_cast<size_t>(std::max<int64_t>(steps, 0)));
  if (steps == 1) out[0] = start;
  if (steps <= 1) return out;
  const float step = (end - start) / float(steps - 1);
  const int64_t half = steps / 2;
  auto scalar = [&](int64_t i) {
    return i < half ? std::fma(step, float(i), start) : std::fma(-step, float(steps - i - 1), end);
  };
  constexpr int64_t V = 8;
  int64_t i = 0;
  for (; i <= steps - 2 * V; i += 2 * V)
    for (int64_t c : {i, i + V}) {
      const float base = scalar(c);
      out[c] = base;
      for (int64_t j = 1; j < V; ++j) out[c + j] = base + float(j) * step;
    }
  for (; i < steps; ++i) out[i] = scalar(i);
  return out;
}

namespace {
// 8 - (arange(n) / ((n - 1) / d)).round().int(): int64 / float -> float32, round half to even.
std::vector<float> posterize_bins(int64_t n, double d) {
  std::vector<float> v(static_cast<size_t>(n));
  const float div = float((double(n) - 1.0) / d);
  for (int64_t i = 0; i < n; ++i) v[i] = float(8 - int(std::nearbyint(float(i) / div)));
  return v;
}
}  // namespace

std::vector<AugSpaceEntry> augmentation_space(AugSpace space, int64_t n, int64_t image_h, int64_t image_w) {
  if (n < 2) throw std::invalid_argument("augmentation_space: num_magnitude_bins " + std::to_string(n) + " must be >= 2");
  using A = AugOp;
  const std::vector<float> none;
  if (space == AugSpace::TrivialAugmentWide)
    return {{A::Identity, none, false},
            {A::ShearX, linspace_f32(0.0f, 0.99f, n), true},
            {A::ShearY, linspace_f32(0.0f, 0.99f, n), true},
            {A::TranslateX, linspace_f32(0.0f, 32.0f, n), true},
            {A::TranslateY, linspace_f32(0.0f, 32.0f, n), true},
            {A::Rotate, linspace_f32(0.0f, 135.0f, n), true},
            {A::Brightness, linspace_f32(0.0f, 0.99f, n), true},
            {A::Color, linspace_f32(0.0f, 0.99f, n), true},
            {A::Contrast, linspace_f32(0.0f, 0.99f, n), true},
            {A::Sharpness, linspace_f32(0.0f, 0.99f, n), true},
            {A::Posterize, posterize_bins(n, 6.0), false},
            {A::Solarize, linspace_f32(255.0f, 0.0f, n), false},
            {A::AutoContrast, none, false},
            {A::Equalize, none, false}};
  // RandAugment and AutoAugment share the space; AutoAugment has no Identity but has Invert.
  // The translation range 150/331 * size is a Python float, turned into float32 by linspace.
  std::vector<AugSpaceEntry> s = {
      {A::ShearX, linspace_f32(0.0f, 0.3f, n), true},
      {A::ShearY, linspace_f32(0.0f, 0.3f, n), true},
      {A::TranslateX, linspace_f32(0.0f, float(150.0 / 331.0 * double(image_w)), n), true},
      {A::TranslateY, linspace_f32(0.0f, float(150.0 / 331.0 * double(image_h)), n), true},
      {A::Rotate, linspace_f32(0.0f, 30.0f, n), true},
      {A::Brightness, linspace_f32(0.0f, 0.9f, n), true},
      {A::Color, linspace_f32(0.0f, 0.9f, n), true},
      {A::Contrast, linspace_f32(0.0f, 0.9f, n), true},
      {A::Sharpness, linspace_f32(0.0f, 0.9f, n), true},
      {A::Posterize, posterize_bins(n, 4.0), false},
      {A::Solarize, linspace_f32(255.0f, 0.0f, n), false},
      {A::AutoContrast, none, false},
      {A::Equalize, none, false}};
  if (space == AugSpace::RandAugment) s.insert(s.begin(), {A::Identity, none, false});
  else s.push_back({A::Invert, none, false});
  return s;
}

// ================================== policies ==============================================
// Each policy first draws its ops (the *_ops functions; no op draws random numbers), then
// applies them in order, so a test can fix the op + magnitude a seed gives.
Image apply_aug_ops(const Image& img, const std::vector<AugChoice>& ops) {
  Image out = img;
  for (const AugChoice& c : ops) out = apply_aug_op(out, c.op, c.magnitude);
  return out;
}

std::vector<AugChoice> trivial_augment_wide_ops(Generator& gen, int64_t num_bins) {
  const auto space = augmentation_space(AugSpace::TrivialAugmentWide, num_bins, 1, 1);
  const AugSpaceEntry& e = space[size_t(gen.randint(int64_t(space.size())))];
  double m = e.magnitudes.empty() ? 0.0 : double(e.magnitudes[size_t(gen.randint(int64_t(e.magnitudes.size())))]);
  if (e.signed_ && gen.randint(2)) m *= -1.0;
  return {{e.op, m}};
}

Image trivial_augment_wide(const Image& img, Generator& gen, int64_t num_bins) {
  return apply_aug_ops(img, trivial_augment_wide_ops(gen, num_bins));
}

std::vector<AugChoice> rand_augment_ops(int64_t H, int64_t W, Generator& gen, int64_t num_ops, int64_t magnitude,
                                        int64_t num_bins) {
  if (magnitude < 0 || magnitude >= num_bins)
    throw std::invalid_argument("rand_augment: magnitude " + std::to_string(magnitude) + " must be in [0, " +
                                std::to_string(num_bins - 1) + "] (num_magnitude_bins " + std::to_string(num_bins) + ")");
  const auto space = augmentation_space(AugSpace::RandAugment, num_bins, H, W);
  std::vector<AugChoice> ops;
  for (int64_t k = 0; k < num_ops; ++k) {
    const AugSpaceEntry& e = space[size_t(gen.randint(int64_t(space.size())))];
    double m = e.magnitudes.empty() ? 0.0 : double(e.magnitudes[size_t(magnitude)]);
    if (e.signed_ && gen.randint(2)) m *= -1.0;
    ops.push_back({e.op, m});
  }
  return ops;
}

Image rand_augment(const Image& img, Generator& gen, int64_t num_ops, int64_t magnitude, int64_t num_bins) {
  return apply_aug_ops(img, rand_augment_ops(img.H, img.W, gen, num_ops, magnitude, num_bins));
}

const std::vector<std::pair<AutoAugmentStep, AutoAugmentStep>>& auto_augment_imagenet_policy() {
  using A = AugOp;
  // AutoAugment._get_policies(AutoAugmentPolicy.IMAGENET), in order.
  static const std::vector<std::pair<AutoAugmentStep, AutoAugmentStep>> p = {
      {{A::Posterize, 0.4, 8}, {A::Rotate, 0.6, 9}},       {{A::Solarize, 0.6, 5}, {A::AutoContrast, 0.6, -1}},
      {{A::Equalize, 0.8, -1}, {A::Equalize, 0.6, -1}},    {{A::Posterize, 0.6, 7}, {A::Posterize, 0.6, 6}},
      {{A::Equalize, 0.4, -1}, {A::Solarize, 0.2, 4}},     {{A::Equalize, 0.4, -1}, {A::Rotate, 0.8, 8}},
      {{A::Solarize, 0.6, 3}, {A::Equalize, 0.6, -1}},     {{A::Posterize, 0.8, 5}, {A::Equalize, 1.0, -1}},
      {{A::Rotate, 0.2, 3}, {A::Solarize, 0.6, 8}},        {{A::Equalize, 0.6, -1}, {A::Posterize, 0.4, 6}},
      {{A::Rotate, 0.8, 8}, {A::Color, 0.4, 0}},           {{A::Rotate, 0.4, 9}, {A::Equalize, 0.6, -1}},
      {{A::Equalize, 0.0, -1}, {A::Equalize, 0.8, -1}},    {{A::Invert, 0.6, -1}, {A::Equalize, 1.0, -1}},
      {{A::Color, 0.6, 4}, {A::Contrast, 1.0, 8}},         {{A::Rotate, 0.8, 8}, {A::Color, 1.0, 2}},
      {{A::Color, 0.8, 8}, {A::Solarize, 0.8, 7}},         {{A::Sharpness, 0.4, 7}, {A::Invert, 0.6, -1}},
      {{A::ShearX, 0.6, 5}, {A::Equalize, 1.0, -1}},       {{A::Color, 0.4, 0}, {A::Equalize, 0.6, -1}},
      {{A::Equalize, 0.4, -1}, {A::Solarize, 0.2, 4}},     {{A::Solarize, 0.6, 5}, {A::AutoContrast, 0.6, -1}},
      {{A::Invert, 0.6, -1}, {A::Equalize, 1.0, -1}},      {{A::Color, 0.6, 4}, {A::Contrast, 1.0, 8}},
      {{A::Equalize, 0.8, -1}, {A::Equalize, 0.6, -1}},
  };
  return p;
}

std::vector<AugChoice> auto_augment_ops(int64_t H, int64_t W, Generator& gen) {
  const auto& policy = auto_augment_imagenet_policy();
  const auto space = augmentation_space(AugSpace::AutoAugment, 10, H, W);
  // get_params: policy id, two probabilities, two signs, all drawn before any op runs.
  const auto& sub = policy[size_t(gen.randint(int64_t(policy.size())))];
  const float probs[2] = {gen.uniform(), gen.uniform()};
  const int64_t signs[2] = {gen.randint(2), gen.randint(2)};
  std::vector<AugChoice> ops;
  int i = 0;
  for (const AutoAugmentStep& st : {sub.first, sub.second}) {
    if (double(probs[i]) <= st.prob) {  // torchvision: probs[i] <= p
      const AugSpaceEntry* e = nullptr;
      for (const auto& s : space) if (s.op == st.op) e = &s;
      double m = st.magnitude_id >= 0 ? double(e->magnitudes[size_t(st.magnitude_id)]) : 0.0;
      if (e->signed_ && signs[i] == 0) m *= -1.0;
      ops.push_back({st.op, m});
    }
    ++i;
  }
  return ops;
}

Image auto_augment(const Image& img, Generator& gen) { return apply_aug_ops(img, auto_augment_ops(img.H, img.W, gen)); }

// ================================ RandomErasing ===========================================
EraseBox random_erasing_params(int64_t H, int64_t W, const RandomErasingParams& p, Generator& gen) {
  const double area = double(H) * double(W);
  const float lr0 = std::log(p.ratio_lo), lr1 = std::log(p.ratio_hi);  // torch.log(torch.tensor(ratio)): float32
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double erase_area = area * double(gen.uniform(p.scale_lo, p.scale_hi));
    const double aspect = double(std::exp(gen.uniform(lr0, lr1)));
    const int64_t h = int64_t(std::nearbyint(std::sqrt(erase_area * aspect)));  // Python round: half to even
    const int64_t w = int64_t(std::nearbyint(std::sqrt(erase_area / aspect)));
    if (!(h < H && w < W)) continue;
    EraseBox b;
    b.h = h;
    b.w = w;
    b.top = gen.randint(H - h + 1);
    b.left = gen.randint(W - w + 1);
    b.erase = true;
    return b;
  }
  return {};
}

void erase_(Tensor& chw, const EraseBox& b, const RandomErasingParams& p, Generator& gen) {
  check_dim("random_erasing", "input", chw, 3);
  if (!b.erase) return;
  const int64_t C = chw.size(0), H = chw.size(1), W = chw.size(2);
  float* x = chw.data();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = b.top; y < b.top + b.h; ++y)
      for (int64_t xx = b.left; xx < b.left + b.w; ++xx) x[(c * H + y) * W + xx] = p.random_value ? gen.normal() : p.value;
}

void random_erasing_(Tensor& chw, const RandomErasingParams& p, Generator& gen) {
  check_dim("random_erasing", "input", chw, 3);
  if (!(gen.uniform() < p.p)) return;  // torch.rand(1) < p
  erase_(chw, random_erasing_params(chw.size(1), chw.size(2), p, gen), p, gen);
}

}  // namespace graft
