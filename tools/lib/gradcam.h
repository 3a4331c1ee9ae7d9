// tools/lib/gradcam.h — Grad-CAM (Selvaraju et al., 2017): where in the image a class's score
// comes from, for `graft explain`.
//
//   A = the target layer's output for one image, [K,h,w] (K feature maps)
//   y = the model's output (logit) of class c; a one-output BCE model (train/metrics.h: class 1
//       when the logit z > 0) has y = z for class 1 and y = -z for class 0 (the logit of
//       sigmoid(-z), the probability of class 0; pytorch-grad-cam's BinaryClassifierOutputTarget)
//   alpha_k = mean over (h,w) of dy/dA_k            (how much map k matters for c)
//   cam     = ReLU(sum_k alpha_k A_k)               [h,w], kept where it speaks for c
//   heatmap = cam scaled to [0,1] ((cam - min) / (max - min + 1e-7), as pytorch-grad-cam),
//             upsampled bilinearly (half-pixel centers, as cv2.resize / F.interpolate with
//             align_corners=False) to the input's size and laid over the image.
// The gradient is read with a forward hook (layers/module.h) that puts a fresh leaf tensor in
// place of A, so the rest of the network runs from it and backward stops there with dy/dA in
// its .grad — even when every parameter is frozen.
#pragma once

#include <string>
#include <vector>

#include "layers/module.h"
#include "report.h"
#include "tensor/tensor.h"

namespace graft::tools {

// The layer Grad-CAM looks at by default: the last convolutional feature maps.
//   vgg16 "features.29" (the last ReLU), resnet18 "layer4", densenet121 "features.norm5",
//   a spec model: its last layer before flatten that is not an adaptive pooling (e.g. "1" in
//   "conv(8,3) relu adaptiveavgpool(1) flatten ...": the pooling has averaged the places away).
std::string default_cam_layer(const std::string& model_name, const Module& model);

struct GradCam {
  int64_t target_class = 0;     // c (the top-1 class unless one was asked for; 0 or 1 for one output)
  double score = 0;             // y_c (-z for class 0 of a one-output model)
  int64_t h = 0, w = 0;         // the target layer's spatial size
  std::vector<float> cam;       // [h,w] ReLU(sum_k alpha_k A_k), not scaled
  std::vector<float> heatmap;   // [H,W] the input's size, in [0,1]
};
// x: [1,C,H,W] on the model's device. target_class < 0: the model's top-1. Throws naming the
// layer when it does not exist or does not output [1,K,h,w].
GradCam grad_cam(Module& model, const Tensor& x, const std::string& layer, int64_t target_class = -1);

// Grad-CAM over a report's grid of images (graft eval's top losses, graft train's validation
// images), one function for both reports: each grid image ([C,H,W], through the eval transform;
// mean/std undo its normalization) with the heatmap of classes[i] laid over it, at the model's
// default layer (default_cam_layer). Returns the section {heading, HTML} for
// ReportData::sections, or {"", ""} for a model without feature maps (nothing to show).
std::pair<std::string, std::string> grad_cam_section(Module& model, const std::string& model_name,
                                                     const std::vector<GridImage>& grid,
                                                     const std::vector<int64_t>& classes, Device device,
                                                     const std::vector<float>& mean, const std::vector<float>& std,
                                                     const std::string& what);

// [h,w] -> [H,W] bilinear, half-pixel centers (cv2.resize INTER_LINEAR, align_corners=False).
std::vector<float> resize_bilinear(const std::vector<float>& src, int64_t h, int64_t w, int64_t H, int64_t W);

// The image (HWC bytes, 1 or 3 channels) with the heatmap [H,W] in [0,1] laid over it in the
// "jet" colours (blue = 0 ... red = 1), half and half: RGB bytes.
std::vector<uint8_t> overlay_heatmap(const std::vector<uint8_t>& image, int channels, const std::vector<float>& heatmap,
                                     int64_t H, int64_t W);

}  // namespace graft::tools
