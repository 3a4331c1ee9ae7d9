// tools/lib/tta.cpp — see tta.h.
#include "tta.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "data/transforms.h"
#include "tensor/check.h"

namespace graft::tools {

std::vector<Pipeline> tta_pipelines(const Pipeline& base, const std::string& mode) {
  if (mode == "none" || mode.empty()) return {base};
  if (mode == "flip") {
    Pipeline flipped = base;  // the last image step: the model's input mirrored
    flipped.steps.push_back({"hflip=1", false, [](const Image& im, Generator&) { return hflip(im); }});
    return {base, flipped};
  }
  GRAFT_CHECK(mode == "five-crop", "--tta", "expected none, flip or five-crop, got '", mode, "'");
  auto it = std::find_if(base.steps.begin(), base.steps.end(),
                         [](const TransformStep& s) { return s.text.rfind("center_crop=", 0) == 0; });
  GRAFT_CHECK(it != base.steps.end(), "--tta five-crop",
              "the transform has no center_crop=S step, whose size the five crops take (transform: '", base.str(),
              "'); use e.g. --transform resize=256,center_crop=224,normalize=imagenet, or --tta flip");
  const std::string size = it->text.substr(12);
  int64_t h = 0, w = 0;
  try {
    const size_t x = size.find('x');
    h = std::stoll(size.substr(0, x));
    w = x == std::string::npos ? h : std::stoll(size.substr(x + 1));
  } catch (const std::exception&) {
    GRAFT_FAIL("--tta five-crop", "cannot read the crop size of '", it->text, "'");
  }
  std::vector<Pipeline> views;
  // torchvision's FiveCrop order: top-left, top-right, bottom-left, bottom-right, center.
  for (int corner = 0; corner < 5; ++corner) {
    Pipeline p = base;
    TransformStep& step = p.steps[static_cast<size_t>(it - base.steps.begin())];
    step.text = "five_crop#" + std::to_string(corner);
    step.apply = [h, w, corner](const Image& im, Generator&) {
      GRAFT_CHECK_DATA(im.H >= h && im.W >= w, "--tta five-crop", "the image is ", im.H, "x", im.W,
                       " before the crop, smaller than the ", h, "x", w, " crops");
      if (corner == 4) return center_crop(im, h, w);
      return crop(im, corner >= 2 ? im.H - h : 0, corner % 2 ? im.W - w : 0, h, w);
    };
    views.push_back(p);
  }
  return views;
}

Tensor tta_combine(const std::vector<Tensor>& outputs) {
  GRAFT_CHECK(!outputs.empty(), "tta_combine", "no views");
  const Shape shape = outputs[0].shape();
  check_dim("tta_combine", "outputs[0]", outputs[0], 2);
  const int64_t N = shape[0], L = shape[1];
  std::vector<double> mean(static_cast<size_t>(N * L), 0.0);
  for (const Tensor& t : outputs) {
    GRAFT_CHECK(t.shape() == shape, "tta_combine", "views of different shapes: ", t.shape(), " and ", shape);
    const std::vector<float> x = t.to_vector();
    for (int64_t i = 0; i < N; ++i) {
      const float* row = &x[i * L];
      if (L == 1) {
        mean[i] += 1 / (1 + std::exp(-static_cast<double>(row[0])));
        continue;
      }
      double m = *std::max_element(row, row + L), s = 0;  // softmax with the max subtracted
      for (int64_t j = 0; j < L; ++j) s += std::exp(row[j] - m);
      for (int64_t j = 0; j < L; ++j) mean[i * L + j] += std::exp(row[j] - m) / s;
    }
  }
  std::vector<float> out(mean.size());
  const double views = static_cast<double>(outputs.size());
  for (size_t i = 0; i < mean.size(); ++i) {
    const double p = mean[i] / views;
    out[i] = static_cast<float>(L == 1 ? std::log(p) - std::log1p(-p) : std::log(p));
  }
  return Tensor::from_vector(shape, out);
}

}  // namespace graft::tools
