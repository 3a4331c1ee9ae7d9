// src/models/vgg.h — VGG16 exactly as torchvision.models.vgg16 (configuration "D").
//
//   features:   [conv3x3-ReLU] x2, maxpool, x2, maxpool, x3, maxpool, x3, maxpool, x3, maxpool
//               with 64, 128, 256, 512, 512 channels; as an nn.Sequential the convolutions
//               sit at features.0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28
//   avgpool:    AdaptiveAvgPool2d((7, 7)) — so any input of at least 32x32 works
//   classifier: 0 Linear(25088, 4096), 1 ReLU, 2 Dropout, 3 Linear(4096, 4096), 4 ReLU,
//               5 Dropout, 6 Linear(4096, num_classes)
// x: [N,3,H,W] -> logits [N,num_classes]. 138,357,544 parameters for 1000 classes.
// Init as torchvision: convs kaiming_normal(fan_out, relu) with zero bias, linears N(0, 0.01)
// with zero bias (tests load weights instead of relying on the same random stream).
#pragma once

#include <memory>
#include <vector>

#include "layers/adaptive_avg_pool2d.h"
#include "layers/sequential.h"
#include "models/classifier.h"

namespace graft {

class VGG : public ImageClassifier {
 public:
  // cfg: channel counts, 0 for a max pool (torchvision's "M"); no batch norm.
  VGG(const std::vector<int64_t>& cfg, int64_t num_classes = 1000, float dropout = 0.5f,
      const std::string& arch = "vgg16");

 protected:
  Tensor forward(const Tensor& x) override;  // features -> avgpool -> flatten -> classifier

 private:
  Child<Module> features;
  Child<AdaptiveAvgPool2d> avgpool;
  Child<Module> classifier;
};

// torchvision's cfgs["D"].
const std::vector<int64_t>& vgg16_config();
std::shared_ptr<VGG> vgg16(int64_t num_classes = 1000);

}  // namespace graft
