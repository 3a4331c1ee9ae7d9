// tools/lib/gradcam.cpp — see gradcam.h.
#include "gradcam.h"

#include <algorithm>
#include <cmath>

#include "models/models.h"
#include "tensor/check.h"

namespace graft::tools {

std::string default_cam_layer(const std::string& model_name, const Module& model) {
  if (model_name == "vgg16") return "features.29";
  if (model_name == "resnet18") return "layer4";
  if (model_name == "densenet121") return "features.norm5";
  // A spec model: the last child whose output is still an image. The layers after `flatten`
  // no longer have a place in the image, and an adaptive pooling (to 1x1, usually) has averaged
  // the places away: the layer before it.
  std::string last;
  for (const auto& [name, m] : model.children()) {
    if (m->type() == "Flatten" || m->type() == "Linear") break;
    if (m->type() != "AdaptiveAvgPool2d") last = name;
  }
  GRAFT_CHECK(!last.empty(), "explain", "cannot tell which layer of '", model_name,
              "' has the last feature maps; pass --layer NAME (see `graft summary`)");
  return last;
}

GradCam grad_cam(Module& model, const Tensor& x, const std::string& layer, int64_t target_class) {
  check_dim("grad_cam", "x", x, 4);
  GRAFT_CHECK(x.size(0) == 1, "grad_cam", "expected one image, got x ", x.shape());
  GRAFT_CHECK(model.has(layer), "explain", "the model has no module '", layer,
              "'; see `graft summary` for the names, or leave --layer out for the default");
  Tensor activation;  // the leaf that stands in for the layer's output
  HookHandle hook = model.get(layer)->register_forward_hook([&](Module&, const std::vector<Tensor>&, const Tensor& out) {
    activation = out.detach();
    activation.set_requires_grad(true);
    return activation;
  });
  model.eval();
  Tensor out = model(x);
  hook.remove();
  GRAFT_CHECK(activation.defined() && activation.dim() == 4, "explain", "layer '", layer, "' outputs ",
              activation.defined() ? shape_str(activation.shape()) : std::string("nothing"),
              " but Grad-CAM needs feature maps [1,K,h,w]; pick a convolutional layer with --layer");
  check_dim("grad_cam", "model output", out, 2);
  const int64_t L = out.size(1);
  const std::vector<float> logits = out.to(Device::CPU).to_vector();
  GradCam g;
  std::vector<float> onehot(L, 0.0f);  // dy_c/d(outputs)
  if (L == 1) {  // one BCE logit z for two classes: y = z (class 1) or -z (class 0)
    g.target_class = target_class >= 0 ? target_class : (logits[0] > 0 ? 1 : 0);
    GRAFT_CHECK(g.target_class < 2, "explain", "class ", g.target_class,
                " but the model has one output (two classes, 0 and 1)");
    onehot[0] = g.target_class == 1 ? 1.0f : -1.0f;
    g.score = onehot[0] * logits[0];
  } else {
    g.target_class = target_class >= 0 ? target_class : std::max_element(logits.begin(), logits.end()) - logits.begin();
    GRAFT_CHECK(g.target_class < L, "explain", "class ", g.target_class, " but the model has ", L, " outputs");
    onehot[g.target_class] = 1.0f;
    g.score = logits[g.target_class];
  }
  out.backward(Tensor::from_vector({1, L}, onehot).to(out.device()));  // d y_c / d(everything up to A)

  const int64_t K = activation.size(1);
  g.h = activation.size(2), g.w = activation.size(3);
  const int64_t hw = g.h * g.w;
  const std::vector<float> A = activation.detach().to(Device::CPU).to_vector();
  const std::vector<float> dA = activation.grad().to(Device::CPU).to_vector();
  g.cam.assign(hw, 0.0f);
  for (int64_t k = 0; k < K; ++k) {
    double alpha = 0;
    for (int64_t i = 0; i < hw; ++i) alpha += dA[k * hw + i];
    alpha /= static_cast<double>(hw);
    for (int64_t i = 0; i < hw; ++i) g.cam[i] += static_cast<float>(alpha * A[k * hw + i]);
  }
  for (float& v : g.cam) v = std::max(v, 0.0f);
  // Scale to [0,1] as pytorch-grad-cam's scale_cam_image, then to the input's size.
  std::vector<float> scaled = g.cam;
  const float lo = *std::min_element(scaled.begin(), scaled.end());
  for (float& v : scaled) v -= lo;
  const float hi = *std::max_element(scaled.begin(), scaled.end());
  for (float& v : scaled) v /= 1e-7f + hi;
  g.heatmap = resize_bilinear(scaled, g.h, g.w, x.size(2), x.size(3));
  return g;
}

std::pair<std::string, std::string> grad_cam_section(Module& model, const std::string& model_name,
                                                     const std::vector<GridImage>& grid,
                                                     const std::vector<int64_t>& classes, Device device,
                                                     const std::vector<float>& mean, const std::vector<float>& std,
                                                     const std::string& what) {
  GRAFT_CHECK(grid.size() == classes.size(), "grad_cam_section", grid.size(), " images but ", classes.size(), " classes");
  std::string layer;
  try {
    layer = default_cam_layer(model_name, model);
  } catch (const std::exception&) {
    return {};  // a model without feature maps (no convolution before flatten): no heatmaps
  }
  std::vector<GridImage> cams;
  for (size_t i = 0; i < grid.size(); ++i) {
    const Tensor& img = grid[i].image;  // [C,H,W]
    const int64_t C = img.size(0), H = img.size(1), W = img.size(2);
    GradCam g = grad_cam(model, img.view({1, C, H, W}).to(device), layer, classes[i]);
    std::vector<uint8_t> rgb = overlay_heatmap(image_to_bytes(img, mean, std), static_cast<int>(C), g.heatmap, H, W);
    GridImage c = grid[i];
    c.image = Tensor::empty({3, H, W});  // HWC bytes -> [3,H,W] in [0,1]
    for (int64_t k = 0; k < 3; ++k)
      for (int64_t j = 0; j < H * W; ++j) c.image.data()[k * H * W + j] = rgb[j * 3 + k] / 255.0f;
    cams.push_back(c);
  }
  return {"Grad-CAM of " + what + " (layer " + layer + ", the predicted class)", image_grid_html(cams)};
}

std::vector<float> resize_bilinear(const std::vector<float>& src, int64_t h, int64_t w, int64_t H, int64_t W) {
  std::vector<float> out(static_cast<size_t>(H * W));
  // Source coordinate of output pixel i: (i + 0.5) * h / H - 0.5, clamped at the borders.
  auto axis = [](int64_t i, int64_t in, int64_t outn, int64_t& i0, int64_t& i1, float& t) {
    double s = std::max(0.0, (i + 0.5) * static_cast<double>(in) / outn - 0.5);
    i0 = std::min<int64_t>(static_cast<int64_t>(s), in - 1);
    i1 = std::min<int64_t>(i0 + 1, in - 1);
    t = static_cast<float>(s - i0);
  };
  for (int64_t y = 0; y < H; ++y) {
    int64_t y0, y1;
    float ty;
    axis(y, h, H, y0, y1, ty);
    for (int64_t x = 0; x < W; ++x) {
      int64_t x0, x1;
      float tx;
      axis(x, w, W, x0, x1, tx);
      const float top = src[y0 * w + x0] * (1 - tx) + src[y0 * w + x1] * tx;
      const float bottom = src[y1 * w + x0] * (1 - tx) + src[y1 * w + x1] * tx;
      out[y * W + x] = top * (1 - ty) + bottom * ty;
    }
  }
  return out;
}

std::vector<uint8_t> overlay_heatmap(const std::vector<uint8_t>& image, int channels, const std::vector<float>& heat,
                                     int64_t H, int64_t W) {
  GRAFT_CHECK(static_cast<int64_t>(image.size()) == H * W * channels && static_cast<int64_t>(heat.size()) == H * W,
              "overlay_heatmap", "image of ", image.size(), " bytes and heatmap of ", heat.size(), " values for ", H, "x",
              W, "x", channels);
  std::vector<uint8_t> out(static_cast<size_t>(H * W * 3));
  for (int64_t i = 0; i < H * W; ++i) {
    // jet: blue -> cyan -> yellow -> red, piecewise linear in v.
    const float v = std::clamp(heat[i], 0.0f, 1.0f);
    const float jet[3] = {std::clamp(1.5f - std::abs(4 * v - 3), 0.0f, 1.0f), std::clamp(1.5f - std::abs(4 * v - 2), 0.0f, 1.0f),
                          std::clamp(1.5f - std::abs(4 * v - 1), 0.0f, 1.0f)};
    for (int c = 0; c < 3; ++c) {
      const float px = image[i * channels + (channels == 3 ? c : 0)];
      out[i * 3 + c] = static_cast<uint8_t>(std::lround(0.5f * px + 0.5f * 255.0f * jet[c]));
    }
  }
  return out;
}

}  // namespace graft::tools
