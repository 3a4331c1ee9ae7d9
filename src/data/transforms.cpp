// src/data/transforms.cpp — see transforms.h. Every formula follows Pillow 9.4's C code
// (libImaging/Resample.c, Geometry.c, Blend.c, Convert.c) and torchvision 0.14's
// transforms.py / functional_pil.py; the comments name the function reproduced.
#include "data/transforms.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace graft {

// ======================= Resize: PIL ImagingResample, BILINEAR ==========================
namespace {
constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's PRECISION_BITS for 8-bit images

// One output pixel reads in[xmin .. xmin+count) with integer weights k[0..count).
struct Coeffs {
  int64_t ksize = 0;
  std::vector<int> xmin, count;
  std::vector<int32_t> k;  // out_size * ksize
};

// precompute_coeffs + normalize_coeffs_8bpc: the triangle filter (support 1) is stretched by
// scale = in/out when shrinking, which is the antialiasing; weights sum to 1 before rounding.
Coeffs precompute(int64_t in_size, int64_t out_size) {
  const double scale = double(in_size) / double(out_size);
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;
  Coeffs c;
  c.ksize = int64_t(std::ceil(support)) * 2 + 1;
  c.xmin.resize(out_size);
  c.count.resize(out_size);
  c.k.assign(static_cast<size_t>(out_size * c.ksize), 0);
  std::vector<double> w(static_cast<size_t>(c.ksize));
  for (int64_t xx = 0; xx < out_size; ++xx) {
    const double center = (double(xx) + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = int(center - support + 0.5);  // C cast truncates, as PIL
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in_size) xmax = int(in_size);
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      double t = std::fabs((x + xmin - center + 0.5) * ss);
      w[x] = t < 1.0 ? 1.0 - t : 0.0;
      ww += w[x];
    }
    for (int x = 0; x < xmax; ++x) {
      double v = ww != 0.0 ? w[x] / ww : w[x];
      c.k[static_cast<size_t>(xx * c.ksize + x)] =
          v < 0 ? int32_t(-0.5 + v * (1 << kPrecisionBits)) : int32_t(0.5 + v * (1 << kPrecisionBits));
    }
    c.xmin[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

inline uint8_t clip8(int32_t v) {  // PIL clip8: value carries PRECISION_BITS fraction bits
  if (v >= (1 << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return uint8_t(v >> kPrecisionBits);
}
}  // namespace

Image resize(const Image& img, int64_t out_h, int64_t out_w) {
  if (out_h <= 0 || out_w <= 0)
    throw std::invalid_argument("resize: output size " + std::to_string(out_h) + "x" + std::to_string(out_w) +
                                " must be positive");
  if (out_h == img.H && out_w == img.W) return img;  // PIL returns a copy
  const int64_t C = img.C;
  const Coeffs ch = precompute(img.W, out_w), cv = precompute(img.H, out_h);
  const bool need_h = out_w != img.W, need_v = out_h != img.H;
  // Rows of the input the vertical pass needs (PIL resamples only those horizontally).
  const int64_t y_first = need_v ? cv.xmin[0] : 0;
  const int64_t y_last = need_v ? cv.xmin[out_h - 1] + cv.count[out_h - 1] : img.H;
  Image tmp;
  const Image* src = &img;
  if (need_h) {
    tmp = Image(y_last - y_first, out_w, C);
    for (int64_t y = 0; y < tmp.H; ++y) {
      const uint8_t* in = img.row(y + y_first);
      uint8_t* out = tmp.row(y);
      for (int64_t xx = 0; xx < out_w; ++xx) {
        const int32_t* k = &ch.k[static_cast<size_t>(xx * ch.ksize)];
        const uint8_t* p = in + int64_t(ch.xmin[xx]) * C;
        if (C == 3) {  // the common case, all channels in one sweep over the taps (as PIL)
          int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
          for (int x = 0; x < ch.count[xx]; ++x) {
            s0 += int32_t(p[x * 3 + 0]) * k[x];
            s1 += int32_t(p[x * 3 + 1]) * k[x];
            s2 += int32_t(p[x * 3 + 2]) * k[x];
          }
          out[xx * 3 + 0] = clip8(s0);
          out[xx * 3 + 1] = clip8(s1);
          out[xx * 3 + 2] = clip8(s2);
          continue;
        }
        for (int64_t c = 0; c < C; ++c) {
          int32_t ss = 1 << (kPrecisionBits - 1);  // +0.5 for rounding
          for (int x = 0; x < ch.count[xx]; ++x) ss += int32_t(p[x * C + c]) * k[x];
          out[xx * C + c] = clip8(ss);
        }
      }
    }
    src = &tmp;
  }
  if (!need_v) return need_h ? tmp : img;
  const int64_t row_offset = need_h ? y_first : 0;  // tmp row 0 is input row y_first
  Image out(out_h, src->W, C);
  const int64_t rowlen = src->W * C;
  std::vector<int32_t> acc(static_cast<size_t>(rowlen));
  for (int64_t yy = 0; yy < out_h; ++yy) {
    const int32_t* k = &cv.k[static_cast<size_t>(yy * cv.ksize)];
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    for (int y = 0; y < cv.count[yy]; ++y) {  // row-by-row accumulation: cache friendly
      const uint8_t* in = src->row(cv.xmin[yy] + y - row_offset);
      const int32_t ky = k[y];
      for (int64_t i = 0; i < rowlen; ++i) acc[i] += int32_t(in[i]) * ky;
    }
    uint8_t* o = out.row(yy);
    for (int64_t i = 0; i < rowlen; ++i) o[i] = clip8(acc[i]);
  }
  return out;
}

std::pair<int64_t, int64_t> resize_shorter_shape(int64_t h, int64_t w, int64_t size) {
  // torchvision _compute_resized_output_size: new_long = int(size * long / short) (float math).
  if (w <= h) return {int64_t(double(size) * double(h) / double(w)), size};
  return {size, int64_t(double(size) * double(w) / double(h))};
}

Image resize_shorter(const Image& img, int64_t size) {
  auto [h, w] = resize_shorter_shape(img.H, img.W, size);
  return resize(img, h, w);
}

// ============================ crops, flips, rotation ====================================
Image crop(const Image& img, int64_t top, int64_t left, int64_t h, int64_t w) {
  if (h <= 0 || w <= 0)
    throw std::invalid_argument("crop: size " + std::to_string(h) + "x" + std::to_string(w) + " must be positive");
  Image out(h, w, img.C);  // zero-filled: outside pixels are 0 as in PIL's crop
  for (int64_t y = 0; y < h; ++y) {
    int64_t sy = top + y;
    if (sy < 0 || sy >= img.H) continue;
    int64_t x0 = std::max<int64_t>(0, -left), x1 = std::min<int64_t>(w, img.W - left);
    if (x1 <= x0) continue;
    std::copy(img.row(sy) + (left + x0) * img.C, img.row(sy) + (left + x1) * img.C, out.row(y) + x0 * img.C);
  }
  return out;
}

Image center_crop(const Image& img, int64_t h, int64_t w) {
  // torchvision F.center_crop: pad (left/top gets the floor half) when the crop is larger,
  // then top = int(round((H - h) / 2.0)) with round-half-to-even (std::nearbyint).
  int64_t pad_left = w > img.W ? (w - img.W) / 2 : 0, pad_top = h > img.H ? (h - img.H) / 2 : 0;
  int64_t W = w > img.W ? w : img.W, H = h > img.H ? h : img.H;
  int64_t top = int64_t(std::nearbyint(double(H - h) / 2.0)), left = int64_t(std::nearbyint(double(W - w) / 2.0));
  return crop(img, top - pad_top, left - pad_left, h, w);
}

Image hflip(const Image& img) {
  Image out(img.H, img.W, img.C);
  const int64_t C = img.C;
  for (int64_t y = 0; y < img.H; ++y) {
    const uint8_t* in = img.row(y);
    uint8_t* o = out.row(y) + (img.W - 1) * C;
    for (int64_t x = 0; x < img.W; ++x, in += C, o -= C)
      for (int64_t c = 0; c < C; ++c) o[c] = in[c];
  }
  return out;
}

Image vflip(const Image& img) {
  Image out(img.H, img.W, img.C);
  for (int64_t y = 0; y < img.H; ++y) std::copy(img.row(img.H - 1 - y), img.row(img.H - 1 - y) + img.W * img.C, out.row(y));
  return out;
}

Image rotate(const Image& img, double angle) {
  // PIL Image.rotate: inverse affine map around the center (w/2, h/2), matrix entries rounded
  // to 15 decimals, then Geometry.c affine_fixed (16.16 fixed point, sample at pixel centers).
  angle = std::fmod(angle, 360.0);
  if (angle < 0) angle += 360.0;
  if (angle == 0.0) return img;
  // Image.rotate's fast paths (no center/translate given): transposes, exact quarter turns.
  if (angle == 180.0) return vflip(hflip(img));
  if ((angle == 90.0 || angle == 270.0) && img.W == img.H) {
    Image out(img.H, img.W, img.C);  // ROTATE_90 (counter-clockwise): out(r, c) = in(c, W-1-r)
    for (int64_t r = 0; r < img.H; ++r)
      for (int64_t c = 0; c < img.W; ++c)
        for (int64_t k = 0; k < img.C; ++k)
          out.at(r, c, k) = angle == 90.0 ? img.at(c, img.W - 1 - r, k) : img.at(img.H - 1 - c, r, k);
    return out;
  }
  auto r15 = [](double v) { return std::nearbyint(v * 1e15) / 1e15; };
  const double a = -angle * M_PI / 180.0;
  double m[6] = {r15(std::cos(a)), r15(std::sin(a)), 0.0, r15(-std::sin(a)), r15(std::cos(a)), 0.0};
  const double cx = double(img.W) / 2.0, cy = double(img.H) / 2.0;
  m[2] = m[0] * -cx + m[1] * -cy + cx;
  m[5] = m[3] * -cx + m[4] * -cy + cy;
  auto fix = [](double v) { return int32_t(std::floor(v * 65536.0 + 0.5)); };
  const int32_t a0 = fix(m[0]), a1 = fix(m[1]), a3 = fix(m[3]), a4 = fix(m[4]);
  int32_t a2 = fix(m[2] + m[0] * 0.5 + m[1] * 0.5), a5 = fix(m[5] + m[3] * 0.5 + m[4] * 0.5);
  Image out(img.H, img.W, img.C);  // fill 0
  for (int64_t y = 0; y < img.H; ++y, a2 += a1, a5 += a4) {
    int32_t xx = a2, yy = a5;
    for (int64_t x = 0; x < img.W; ++x, xx += a0, yy += a3) {
      int32_t xin = xx >> 16, yin = yy >> 16;  // arithmetic shift = floor
      if (xin < 0 || xin >= img.W || yin < 0 || yin >= img.H) continue;
      for (int64_t c = 0; c < img.C; ++c) out.at(y, x, c) = img.at(yin, xin, c);
    }
  }
  return out;
}

// ================================ color ================================================
uint8_t rgb_to_gray(uint8_t r, uint8_t g, uint8_t b) {
  return uint8_t((uint32_t(r) * 19595u + uint32_t(g) * 38470u + uint32_t(b) * 7471u + 0x8000u) >> 16);
}

namespace {
// PIL ImagingBlend(im1, im2, alpha): out = im1 + alpha * (im2 - im1) in float, truncated;
// clipped to [0, 255] only when extrapolating (alpha outside [0, 1]).
inline uint8_t blend(uint8_t a, uint8_t b, float alpha) {
  float t = float(int(a)) + alpha * float(int(b) - int(a));
  if (alpha >= 0.0f && alpha <= 1.0f) return uint8_t(t);
  if (t <= 0.0f) return 0;
  if (t >= 255.0f) return 255;
  return uint8_t(t);
}
Image gray_of(const Image& img) {  // convert("L").convert(mode)
  if (img.C == 1) return img;
  Image g(img.H, img.W, img.C);
  for (int64_t i = 0; i < img.H * img.W; ++i) {
    const uint8_t* p = &img.data[static_cast<size_t>(i * 3)];
    uint8_t v = rgb_to_gray(p[0], p[1], p[2]);
    for (int c = 0; c < 3; ++c) g.data[static_cast<size_t>(i * 3 + c)] = v;
  }
  return g;
}
Image blend_images(const Image& degenerate, const Image& img, float f) {
  Image out(img.H, img.W, img.C);
  for (size_t i = 0; i < img.data.size(); ++i) out.data[i] = blend(degenerate.data[i], img.data[i], f);
  return out;
}
}  // namespace

Image adjust_brightness(const Image& img, float f) {
  Image black(img.H, img.W, img.C);
  return blend_images(black, img, f);
}

Image adjust_contrast(const Image& img, float f) {
  // ImageEnhance.Contrast: degenerate = gray image of value int(mean(L) + 0.5).
  Image g = gray_of(img);
  double sum = 0;
  for (size_t i = 0; i < g.data.size(); i += size_t(g.C)) sum += g.data[i];
  double mean = sum / double(img.H * img.W);
  Image d(img.H, img.W, img.C);
  std::fill(d.data.begin(), d.data.end(), uint8_t(int(mean + 0.5)));
  return blend_images(d, img, f);
}

Image adjust_saturation(const Image& img, float f) { return blend_images(gray_of(img), img, f); }

Image adjust_hue(const Image& img, float hue_factor) {
  if (hue_factor < -0.5f || hue_factor > 0.5f)
    throw std::invalid_argument("adjust_hue: hue_factor " + std::to_string(hue_factor) + " is not in [-0.5, 0.5]");
  if (img.C == 1) return img;  // torchvision leaves gray images alone
  // np.uint8(hue_factor * 255): truncate toward zero, wrap modulo 256.
  const uint8_t shift = uint8_t(int(hue_factor * 255.0f));
  Image out(img.H, img.W, 3);
  for (int64_t i = 0; i < img.H * img.W; ++i) {
    const uint8_t* p = &img.data[static_cast<size_t>(i * 3)];
    uint8_t r = p[0], g = p[1], b = p[2];
    // Convert.c rgb2hsv (following colorsys.py, float math).
    uint8_t maxc = std::max(r, std::max(g, b)), minc = std::min(r, std::min(g, b));
    uint8_t uh = 0, us = 0, uv = maxc;
    if (maxc != minc) {
      float cr = float(maxc - minc);
      float s = cr / float(maxc);
      float rc = float(maxc - r) / cr, gc = float(maxc - g) / cr, bc = float(maxc - b) / cr;
      float h;
      if (r == maxc) h = bc - gc;
      else if (g == maxc) h = float(2.0 + rc - bc);
      else h = float(4.0 + gc - rc);
      h = float(std::fmod(h / 6.0 + 1.0, 1.0));
      uh = uint8_t(std::clamp(int(h * 255.0), 0, 255));
      us = uint8_t(std::clamp(int(s * 255.0), 0, 255));
    }
    uh = uint8_t(uh + shift);
    // Convert.c hsv2rgb.
    uint8_t* o = &out.data[static_cast<size_t>(i * 3)];
    if (us == 0) { o[0] = o[1] = o[2] = uv; continue; }
    int sector = int(std::floor(float(uh) * 6.0 / 255.0));
    float fr = float(float(uh) * 6.0 / 255.0 - float(sector));
    float fs = float(us) / 255.0f;
    auto r8 = [](double v) { return uint8_t(std::clamp(int(std::round(v)), 0, 255)); };
    uint8_t P = r8(float(uv) * (1.0 - fs)), Q = r8(float(uv) * (1.0 - fs * fr)), T = r8(float(uv) * (1.0 - fs * (1.0 - fr)));
    uint8_t V = uv;
    switch (sector % 6) {
      case 0: o[0] = V; o[1] = T; o[2] = P; break;
      case 1: o[0] = Q; o[1] = V; o[2] = P; break;
      case 2: o[0] = P; o[1] = V; o[2] = T; break;
      case 3: o[0] = P; o[1] = Q; o[2] = V; break;
      case 4: o[0] = T; o[1] = P; o[2] = V; break;
      default: o[0] = V; o[1] = P; o[2] = Q; break;
    }
  }
  return out;
}

// ============================== random parameters ========================================
CropBox random_resized_crop_params(int64_t H, int64_t W, std::pair<float, float> scale,
                                   std::pair<float, float> ratio, Generator& gen) {
  const double area = double(H) * double(W);
  const double lr0 = std::log(ratio.first), lr1 = std::log(ratio.second);
  for (int attempt = 0; attempt < 10; ++attempt) {
    double target = area * gen.uniform(scale.first, scale.second);
    double ar = std::exp(lr0 + (lr1 - lr0) * gen.uniform());
    int64_t w = int64_t(std::nearbyint(std::sqrt(target * ar)));  // Python round: half to even
    int64_t h = int64_t(std::nearbyint(std::sqrt(target / ar)));
    if (0 < w && w <= W && 0 < h && h <= H) {
      int64_t top = gen.randint(H - h + 1), left = gen.randint(W - w + 1);
      return {top, left, h, w};
    }
  }
  // Fallback: central crop with the aspect ratio clamped into [min ratio, max ratio].
  const double in_ratio = double(W) / double(H);
  int64_t w = W, h = H;
  if (in_ratio < std::min(ratio.first, ratio.second)) h = int64_t(std::nearbyint(double(w) / std::min(ratio.first, ratio.second)));
  else if (in_ratio > std::max(ratio.first, ratio.second)) w = int64_t(std::nearbyint(double(h) * std::max(ratio.first, ratio.second)));
  return {(H - h) / 2, (W - w) / 2, h, w};
}

Image random_resized_crop(const Image& img, int64_t out_h, int64_t out_w, Generator& gen,
                          std::pair<float, float> scale, std::pair<float, float> ratio) {
  CropBox b = random_resized_crop_params(img.H, img.W, scale, ratio, gen);
  return resize(crop(img, b.top, b.left, b.h, b.w), out_h, out_w);
}

Image color_jitter(const Image& img, const ColorJitterParams& p, Generator& gen) {
  // torchvision ColorJitter.get_params: a random permutation of the four ops, then one factor
  // per enabled op (drawn even if the op comes later in the order).
  int order[4] = {0, 1, 2, 3};
  for (int i = 3; i > 0; --i) std::swap(order[i], order[gen.randint(i + 1)]);
  auto factor = [&](float x) { return x > 0 ? gen.uniform(std::max(0.0f, 1.0f - x), 1.0f + x) : -1.0f; };
  float fb = factor(p.brightness), fc = factor(p.contrast), fs = factor(p.saturation);
  float fh = p.hue > 0 ? gen.uniform(-p.hue, p.hue) : 0.0f;
  Image out = img;
  for (int op : order) {
    if (op == 0 && p.brightness > 0) out = adjust_brightness(out, fb);
    if (op == 1 && p.contrast > 0) out = adjust_contrast(out, fc);
    if (op == 2 && p.saturation > 0) out = adjust_saturation(out, fs);
    if (op == 3 && p.hue > 0) out = adjust_hue(out, fh);
  }
  return out;
}

// ================================ to tensor ==============================================
void to_chw_float(const Image& img, float* out, const float* mean, const float* std) {
  // A 256-entry table per channel holds exactly torchvision's float32 expression
  // (u8 / 255 - mean) / std, so the per-pixel work is one lookup (and bit-identical results).
  const int64_t HW = img.H * img.W;
  float lut[256];
  for (int64_t c = 0; c < img.C; ++c) {
    for (int v = 0; v < 256; ++v) lut[v] = mean ? (float(v) / 255.0f - mean[c]) / std[c] : float(v) / 255.0f;
    float* o = out + c * HW;
    const uint8_t* in = img.data.data() + c;
    for (int64_t i = 0; i < HW; ++i) o[i] = lut[in[i * img.C]];
  }
}

Tensor to_tensor(const Image& img) {
  Tensor t = Tensor::empty({img.C, img.H, img.W});
  to_chw_float(img, t.data());
  return t;
}

void normalize_(Tensor& chw, const std::vector<float>& mean, const std::vector<float>& std) {
  check_dim("normalize", "input", chw, 3);
  const int64_t C = chw.size(0), HW = chw.size(1) * chw.size(2);
  if (int64_t(mean.size()) != C || int64_t(std.size()) != C)
    throw std::invalid_argument("normalize: " + std::to_string(mean.size()) + " means and " + std::to_string(std.size()) +
                                " stds for an input of shape " + shape_str(chw.shape()) + "; give one per channel");
  float* p = chw.data();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < HW; ++i) p[c * HW + i] = (p[c * HW + i] - mean[c]) / std[c];
}

}  // namespace graft
