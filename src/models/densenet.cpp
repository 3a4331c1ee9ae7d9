// src/models/densenet.cpp — see densenet.h.
#include "models/densenet.h"

#include <cmath>

#include "autograd/ops.h"
#include "layers/activation.h"
#include "layers/adaptive_avg_pool2d.h"
#include "layers/batch_norm2d.h"
#include "layers/concat.h"
#include "layers/conv2d.h"
#include "layers/init.h"
#include "layers/linear.h"
#include "layers/pool2d.h"
#include "layers/sequential.h"
#include "tensor/random.h"

namespace graft {

namespace {
// torchvision's DenseNet: nn.init.kaiming_normal_(conv.weight), i.e. fan_in, gain sqrt(2).
std::shared_ptr<Conv2d> conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad) {
  auto c = std::make_shared<Conv2d>(in, out, k, stride, pad, /*bias=*/false);
  normal_(c->weight, 0.0f, std::sqrt(2.0f / static_cast<float>(fan_in(c->weight))));
  return c;
}
}  // namespace

DenseLayer::DenseLayer(int64_t in, int64_t growth, int64_t bn_size) : Module("_DenseLayer") {
  register_module("norm1", std::make_shared<BatchNorm2d>(in));
  register_module("relu1", std::make_shared<ReLU>(true));
  register_module("conv1", conv(in, bn_size * growth, 1, 1, 0));
  register_module("norm2", std::make_shared<BatchNorm2d>(bn_size * growth));
  register_module("relu2", std::make_shared<ReLU>(true));
  register_module("conv2", conv(bn_size * growth, growth, 3, 1, 1));
}

Tensor DenseLayer::forward(const Tensor& x) {
  Tensor h = run_child(*this, "norm1", x);
  h = run_child(*this, "relu1", h);
  h = run_child(*this, "conv1", h);  // bottleneck [N, bn_size*growth, H, W]
  h = run_child(*this, "norm2", h);
  h = run_child(*this, "relu2", h);
  return run_child(*this, "conv2", h);  // [N, growth, H, W]
}

DenseBlock::DenseBlock(int64_t layers, int64_t in, int64_t growth, int64_t bn_size) : Module("_DenseBlock") {
  for (int64_t i = 0; i < layers; ++i)
    register_module("denselayer" + std::to_string(i + 1), std::make_shared<DenseLayer>(in + i * growth, growth, bn_size));
}

Tensor DenseBlock::forward(const Tensor& x) {
  std::vector<Tensor> features = {x};
  for (auto& [name, layer] : children()) features.push_back(call(*layer, concat_channels(features)));
  return concat_channels(features);
}

DenseNet::DenseNet(int64_t growth, const std::vector<int64_t>& block_config, int64_t init_features, int64_t bn_size,
                   int64_t num_classes, const std::string& arch)
    : ImageClassifier("DenseNet", arch) {
  auto features = std::make_shared<Sequential>();
  features->add("conv0", conv(3, init_features, 7, 2, 3));
  features->add("norm0", std::make_shared<BatchNorm2d>(init_features));
  features->add("relu0", std::make_shared<ReLU>(true));
  features->add("pool0", std::make_shared<MaxPool2d>(3, 2, 1));
  int64_t c = init_features;
  for (size_t i = 0; i < block_config.size(); ++i) {
    const std::string k = std::to_string(i + 1);
    features->add("denseblock" + k, std::make_shared<DenseBlock>(block_config[i], c, growth, bn_size));
    c += block_config[i] * growth;
    if (i + 1 == block_config.size()) break;
    auto transition = std::make_shared<Sequential>();  // torchvision's _Transition
    transition->add("norm", std::make_shared<BatchNorm2d>(c));
    transition->add("relu", std::make_shared<ReLU>(true));
    transition->add("conv", conv(c, c / 2, 1, 1, 0));
    transition->add("pool", std::make_shared<AvgPool2d>(2, 2));
    features->add("transition" + k, transition);
    c /= 2;
  }
  features->add("norm5", std::make_shared<BatchNorm2d>(c));
  register_module("features", features);
  auto classifier = std::make_shared<Linear>(c, num_classes);
  classifier->bias.zero_();
  register_module("classifier", classifier);
}

Tensor DenseNet::forward(const Tensor& x) {
  Tensor h = run_child(*this, "features", x);  // [N,1024,H/32,W/32]
  h = relu(h);
  h = flatten(adaptive_avg_pool2d(h, 1, 1));   // [N,1024]
  return run_child(*this, "classifier", h);
}

std::shared_ptr<DenseNet> densenet121(int64_t num_classes) {
  return std::make_shared<DenseNet>(32, std::vector<int64_t>{6, 12, 24, 16}, 64, 4, num_classes);
}

}  // namespace graft
