// src/models/resnet.cpp — see resnet.h.
#include "models/resnet.h"

#include "autograd/ops.h"
#include "layers/activation.h"
#include "layers/adaptive_avg_pool2d.h"
#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/init.h"
#include "layers/linear.h"
#include "layers/pool2d.h"
#include "layers/sequential.h"

namespace graft {

namespace {
// torchvision's conv3x3 / conv1x1: no bias (the batch norm after it has one).
std::shared_ptr<Conv2d> conv(int64_t in, int64_t out, int64_t k, int64_t stride) {
  auto c = std::make_shared<Conv2d>(in, out, k, stride, k / 2, /*bias=*/false);
  kaiming_normal_fan_out_(c->weight);
  return c;
}
}  // namespace

BasicBlock::BasicBlock(int64_t in, int64_t out, int64_t stride) : Module("BasicBlock") {
  register_module("conv1", conv(in, out, 3, stride));
  register_module("bn1", std::make_shared<BatchNorm2d>(out));
  register_module("relu", std::make_shared<ReLU>(true));
  register_module("conv2", conv(out, out, 3, 1));
  register_module("bn2", std::make_shared<BatchNorm2d>(out));
  if (stride != 1 || in != out)
    register_module("downsample", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
                                      conv(in, out, 1, stride), std::make_shared<BatchNorm2d>(out)}));
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = run_child(*this, "conv1", x);
  out = run_child(*this, "bn1", out);
  out = run_child(*this, "relu", out);
  out = run_child(*this, "conv2", out);
  out = run_child(*this, "bn2", out);
  Tensor identity = has("downsample") ? run_child(*this, "downsample", x) : x;
  return run_child(*this, "relu", out + identity);
}

ResNet::ResNet(const std::vector<int64_t>& layers, int64_t num_classes, const std::string& arch)
    : ImageClassifier("ResNet", arch) {
  register_module("conv1", conv(3, 64, 7, 2));
  register_module("bn1", std::make_shared<BatchNorm2d>(64));
  register_module("relu", std::make_shared<ReLU>(true));
  register_module("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));
  int64_t in = 64;
  for (size_t i = 0; i < layers.size(); ++i) {  // torchvision's _make_layer
    const int64_t out = 64 << i, stride = i == 0 ? 1 : 2;
    auto layer = std::make_shared<Sequential>();
    for (int64_t b = 0; b < layers[i]; ++b) {
      layer->add(std::make_shared<BasicBlock>(in, out, b == 0 ? stride : 1));
      in = out;
    }
    register_module("layer" + std::to_string(i + 1), layer);
  }
  register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1, 1));
  register_module("fc", std::make_shared<Linear>(in, num_classes));
}

Tensor ResNet::forward(const Tensor& x) {
  Tensor h = run_child(*this, "conv1", x);  // [N,64,H/2,W/2]
  h = run_child(*this, "bn1", h);
  h = run_child(*this, "relu", h);
  h = run_child(*this, "maxpool", h);       // [N,64,H/4,W/4]
  h = run_child(*this, "layer1", h);
  h = run_child(*this, "layer2", h);
  h = run_child(*this, "layer3", h);
  h = run_child(*this, "layer4", h);        // [N,512,H/32,W/32]
  h = run_child(*this, "avgpool", h);       // [N,512,1,1]
  return run_child(*this, "fc", flatten(h));
}

std::shared_ptr<ResNet> resnet18(int64_t num_classes) { return std::make_shared<ResNet>(std::vector<int64_t>{2, 2, 2, 2}, num_classes); }

}  // namespace graft
