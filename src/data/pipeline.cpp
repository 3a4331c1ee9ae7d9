// src/data/pipeline.cpp — the spec parser; see pipeline.h.
#include "data/pipeline.h"

#include "data/augment.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace graft {

namespace {
const char* kAccepted =
    "accepted items: resize=N|HxW, center_crop=N|HxW, random_resized_crop=N|HxW[:scale_lo:scale_hi], "
    "hflip[=p], vflip[=p], rotation=DEG, color_jitter=b[:c[:s[:h]]], normalize=imagenet|m0:m1:m2/s0:s1:s2, "
    "trivial_augment[=bins], rand_augment[=num_ops:magnitude[:bins]], auto_augment[=imagenet], "
    "random_erasing[=p[:scale_lo:scale_hi[:ratio_lo:ratio_hi[:value|random]]]]";

// Bounds that keep an augmentation's cost per image sane: torchvision uses 31 bins and 2 ops.
constexpr int64_t kMaxBins = 10000, kMaxOps = 100;

[[noreturn]] void bad(const std::string& item, const std::string& why) {
  throw std::invalid_argument("transform spec item '" + item + "': " + why + " (" + kAccepted + ")");
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  if (!s.empty() && s.back() == sep) out.push_back("");
  return out;
}

// A finite number: stod also reads "nan", "inf" and "1e999" (as inf), which no item means and
// which every range check below would let through (NaN compares false).
double number(const std::string& item, const std::string& s) {
  double v = 0;
  try {
    size_t used = 0;
    v = std::stod(s, &used);
    if (used != s.size()) throw std::invalid_argument(s);
  } catch (const std::exception&) {
    bad(item, "'" + s + "' is not a number");
  }
  if (!std::isfinite(v)) bad(item, "'" + s + "' is not a finite number");
  return v;
}

// A whole number in [lo, hi], checked before it is converted: a double beyond int64 (1e30)
// has no int64 value (converting it is undefined behaviour).
int64_t whole(const std::string& item, const std::string& s, const char* what, int64_t lo, int64_t hi) {
  const double d = number(item, s);
  if (!(d >= double(lo) && d <= double(hi)) || d != std::floor(d))
    bad(item, std::string(what) + " '" + s + "' must be a whole number from " + std::to_string(lo) + " to " +
                  std::to_string(hi));
  return int64_t(d);
}

// Image sides up to 65536 pixels (the largest JPEG; 65536 x 65536 RGB is already 12 GB).
constexpr int64_t kMaxSide = 65536;

// "224" -> {224, 224} (square; for resize: shorter side, flagged by h < 0), "64x48" -> {64, 48}.
std::pair<int64_t, int64_t> size_of(const std::string& item, const std::string& s) {
  auto parts = split(s, 'x');
  if (parts.size() > 2 || parts.empty()) bad(item, "size '" + s + "' must be N or HxW");
  std::vector<int64_t> v;
  for (auto& p : parts) v.push_back(whole(item, p, "size", 1, kMaxSide));
  return parts.size() == 1 ? std::pair{-v[0], v[0]} : std::pair{v[0], v[1]};
}
}  // namespace

Pipeline Pipeline::parse(const std::string& spec) {
  Pipeline p;
  for (std::string item : split(spec, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item.empty()) continue;
    auto eq = item.find('=');
    std::string key = item.substr(0, eq), val = eq == std::string::npos ? "" : item.substr(eq + 1);
    auto need_value = [&] { if (val.empty()) bad(item, "needs a value, e.g. " + key + "=224"); };
    TransformStep st{item, false, {}};
    if (key == "resize") {
      need_value();
      auto [h, w] = size_of(item, val);
      if (h < 0) st.apply = [w = w](const Image& im, Generator&) { return resize_shorter(im, w); };
      else st.apply = [h = h, w = w](const Image& im, Generator&) { return resize(im, h, w); };
    } else if (key == "center_crop") {
      need_value();
      auto [h, w] = size_of(item, val);
      h = h < 0 ? -h : h;
      st.apply = [h = h, w = w](const Image& im, Generator&) { return center_crop(im, h, w); };  // init-captures: clang < 16
    } else if (key == "random_resized_crop") {
      need_value();
      auto parts = split(val, ':');
      auto [h, w] = size_of(item, parts[0]);
      h = h < 0 ? -h : h;
      std::pair<float, float> scale{0.08f, 1.0f};
      if (parts.size() == 3) scale = {float(number(item, parts[1])), float(number(item, parts[2]))};
      else if (parts.size() != 1) bad(item, "expected N, HxW or N:scale_lo:scale_hi");
      if (!(0 < scale.first && scale.first <= scale.second && scale.second <= 1)) bad(item, "scale must satisfy 0 < lo <= hi <= 1");
      st.random = true;
      st.apply = [h = h, w = w, scale](const Image& im, Generator& g) { return random_resized_crop(im, h, w, g, scale); };
    } else if (key == "hflip" || key == "vflip") {
      double prob = val.empty() ? 0.5 : number(item, val);
      if (prob < 0 || prob > 1) bad(item, "probability must be in [0, 1]");
      bool horizontal = key == "hflip";
      st.random = true;
      st.apply = [prob, horizontal](const Image& im, Generator& g) {
        if (g.uniform() >= prob) return im;  // torchvision: flip if torch.rand(1) < p
        return horizontal ? hflip(im) : vflip(im);
      };
    } else if (key == "rotation" || key == "rotate") {
      need_value();
      double deg = number(item, val);
      // torchvision: a single number must be positive; above 360 adds nothing, and a huge one
      // (0x1p315, found by the fuzzer) overflowed float(deg) to inf and the angle to NaN.
      if (deg < 0 || deg > 360) bad(item, "degrees must be from 0 to 360");
      st.random = true;
      st.apply = [deg](const Image& im, Generator& g) { return rotate(im, g.uniform(float(-deg), float(deg))); };
    } else if (key == "color_jitter") {
      need_value();
      auto parts = split(val, ':');
      if (parts.size() > 4) bad(item, "at most 4 values b:c:s:h");
      float v[4] = {0, 0, 0, 0};
      for (size_t i = 0; i < parts.size(); ++i) v[i] = float(number(item, parts[i]));
      // torchvision's ColorJitter checks: each amount non-negative, hue at most 0.5.
      if (v[0] < 0 || v[1] < 0 || v[2] < 0) bad(item, "brightness, contrast and saturation must be >= 0");
      if (v[3] < 0 || v[3] > 0.5f) bad(item, "hue must be in [0, 0.5]");
      ColorJitterParams cj{v[0], v[1], v[2], v[3]};
      st.random = true;
      st.apply = [cj](const Image& im, Generator& g) { return color_jitter(im, cj, g); };
    } else if (key == "normalize") {
      need_value();
      if (val == "imagenet") {
        p.mean.assign(kImagenetMean.begin(), kImagenetMean.end());
        p.std.assign(kImagenetStd.begin(), kImagenetStd.end());
      } else {
        auto ms = split(val, '/');
        if (ms.size() != 2) bad(item, "expected normalize=imagenet or m0:m1:m2/s0:s1:s2");
        p.mean.clear();
        p.std.clear();
        for (auto& s : split(ms[0], ':')) p.mean.push_back(float(number(item, s)));
        for (auto& s : split(ms[1], ':')) p.std.push_back(float(number(item, s)));
        if (p.mean.size() != p.std.size()) bad(item, "as many means as stds are needed");
      }
      continue;
    } else if (key == "trivial_augment" || key == "trivial_augment_wide") {
      if (!val.empty() && val.find('.') != std::string::npos) bad(item, "the number of magnitude bins must be an integer >= 2");
      const int64_t bins = val.empty() ? 31 : whole(item, val, "the number of magnitude bins", 2, kMaxBins);
      st.random = true;
      st.apply = [bins](const Image& im, Generator& g) { return trivial_augment_wide(im, g, bins); };
    } else if (key == "rand_augment") {
      auto parts = split(val, ':');
      int64_t v[3] = {2, 9, 31};
      if (!val.empty() && (parts.size() < 2 || parts.size() > 3)) bad(item, "expected rand_augment=num_ops:magnitude[:bins]");
      const char* names[3] = {"num_ops", "magnitude", "bins"};
      const int64_t most[3] = {kMaxOps, kMaxBins - 1, kMaxBins};
      for (size_t i = 0; !val.empty() && i < parts.size(); ++i) v[i] = whole(item, parts[i], names[i], 0, most[i]);
      if (v[2] < 2 || v[1] >= v[2]) bad(item, "magnitude must be below the number of bins (default 31)");
      st.random = true;
      st.apply = [n = v[0], m = v[1], b = v[2]](const Image& im, Generator& g) { return rand_augment(im, g, n, m, b); };
    } else if (key == "auto_augment") {
      if (!val.empty() && val != "imagenet") bad(item, "only the ImageNet policy is implemented (auto_augment=imagenet)");
      st.random = true;
      st.apply = [](const Image& im, Generator& g) { return auto_augment(im, g); };
    } else if (key == "random_erasing") {
      auto parts = split(val, ':');
      RandomErasingParams re;
      if (!val.empty()) {
        if (parts.size() != 1 && parts.size() != 3 && parts.size() != 5 && parts.size() != 6)
          bad(item, "expected p, p:scale_lo:scale_hi, p:scale_lo:scale_hi:ratio_lo:ratio_hi or that and :value");
        re.p = float(number(item, parts[0]));
        if (parts.size() >= 3) re.scale_lo = float(number(item, parts[1])), re.scale_hi = float(number(item, parts[2]));
        if (parts.size() >= 5) re.ratio_lo = float(number(item, parts[3])), re.ratio_hi = float(number(item, parts[4]));
        if (parts.size() == 6) {
          if (parts[5] == "random") re.random_value = true;
          else re.value = float(number(item, parts[5]));
        }
      }
      if (re.p < 0 || re.p > 1) bad(item, "probability must be in [0, 1]");
      if (!(0 <= re.scale_lo && re.scale_lo <= re.scale_hi)) bad(item, "scale must satisfy 0 <= lo <= hi");
      if (!(0 < re.ratio_lo && re.ratio_lo <= re.ratio_hi)) bad(item, "ratio must satisfy 0 < lo <= hi");
      p.tensor_steps.push_back({item, [re](Tensor& t, Generator& g) { random_erasing_(t, re, g); }});
      continue;
    } else if (key == "to_tensor") {
      continue;  // implicit
    } else {
      bad(item, "unknown transform '" + key + "'");
    }
    p.steps.push_back(std::move(st));
  }
  return p;
}

Image Pipeline::apply_image(const Image& img, Generator& gen, size_t from) const {
  if (from >= steps.size()) return img;
  Image cur = steps[from].apply(img, gen);
  for (size_t i = from + 1; i < steps.size(); ++i) cur = steps[i].apply(cur, gen);
  return cur;
}

Tensor Pipeline::operator()(const Image& img, Generator& gen) const {
  Image out = apply_image(img, gen);
  Tensor t = Tensor::empty({out.C, out.H, out.W});
  if (!mean.empty() && int64_t(mean.size()) != out.C)
    throw std::invalid_argument("normalize: " + std::to_string(mean.size()) + " means for an image with " +
                                std::to_string(out.C) + " channels");
  to_chw_float(out, t.data(), mean.empty() ? nullptr : mean.data(), std.empty() ? nullptr : std.data());
  apply_tensor(t, gen);
  return t;
}

void Pipeline::apply_tensor(Tensor& chw, Generator& gen) const {
  for (const auto& st : tensor_steps) st.apply(chw, gen);
}

size_t Pipeline::deterministic_prefix() const {
  size_t n = 0;
  while (n < steps.size() && !steps[n].random) ++n;
  return n;
}

std::string Pipeline::str() const {
  std::string s;
  for (auto& st : steps) s += (s.empty() ? "" : ",") + st.text;
  if (!mean.empty()) s += std::string(s.empty() ? "" : ",") + "normalize";
  for (auto& st : tensor_steps) s += (s.empty() ? "" : ",") + st.text;
  return s;
}

}  // namespace graft
