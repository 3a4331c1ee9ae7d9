// src/models/vgg.cpp — see vgg.h.
#include "models/vgg.h"

#include "autograd/ops.h"
#include "layers/activation.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/init.h"
#include "layers/linear.h"
#include "layers/pool2d.h"

namespace graft {

const std::vector<int64_t>& vgg16_config() {
  static const std::vector<int64_t> d = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};
  return d;
}

VGG::VGG(const std::vector<int64_t>& cfg, int64_t num_classes, float dropout, const std::string& arch)
    : ImageClassifier("VGG", arch) {
  // torchvision's make_layers: numbering runs over every module, pools and ReLUs included.
  auto convs = std::make_shared<Sequential>();
  int64_t in = 3;
  for (int64_t v : cfg) {
    if (v == 0) {
      convs->add(std::make_shared<MaxPool2d>(2, 2));
      continue;
    }
    auto conv = std::make_shared<Conv2d>(in, v, 3, 1, 1);
    kaiming_normal_fan_out_(conv->weight);
    conv->bias.zero_();
    convs->add(conv);
    convs->add(std::make_shared<ReLU>(true));
    in = v;
  }
  features = register_module("features", convs);
  avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(7, 7));

  auto fc0 = std::make_shared<Linear>(in * 7 * 7, 4096), fc3 = std::make_shared<Linear>(4096, 4096),
       fc6 = std::make_shared<Linear>(4096, num_classes);
  for (auto& fc : {fc0, fc3, fc6}) {
    normal_(fc->weight, 0.0f, 0.01f);
    fc->bias.zero_();
  }
  auto fcs = std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
      fc0, std::make_shared<ReLU>(true), std::make_shared<Dropout>(dropout),   // 0 1 2
      fc3, std::make_shared<ReLU>(true), std::make_shared<Dropout>(dropout),   // 3 4 5
      fc6});                                                                   // 6
  classifier = register_module("classifier", fcs);
}

Tensor VGG::forward(const Tensor& x) {
  Tensor h = features(x);  // [N,512,H/32,W/32]
  h = avgpool(h);          // [N,512,7,7]
  h = flatten(h);          // [N,25088]
  return classifier(h);    // [N,num_classes]
}

std::shared_ptr<VGG> vgg16(int64_t num_classes) { return std::make_shared<VGG>(vgg16_config(), num_classes); }

}  // namespace graft
