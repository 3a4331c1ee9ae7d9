// src/models/densenet.cpp — see densenet.h.
#include "models/densenet.h"

#include <cmath>

#include "autograd/checkpoint.h"
#include "autograd/engine.h"
#include "autograd/ops.h"
#include "layers/adaptive_avg_pool2d.h"
#include "layers/concat.h"
#include "layers/conv_bn.h"
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
  norm1 = register_module("norm1", std::make_shared<BatchNorm2d>(in));
  relu1 = register_module("relu1", std::make_shared<ReLU>(true));
  conv1 = register_module("conv1", conv(in, bn_size * growth, 1, 1, 0));
  norm2 = register_module("norm2", std::make_shared<BatchNorm2d>(bn_size * growth));
  relu2 = register_module("relu2", std::make_shared<ReLU>(true));
  conv2 = register_module("conv2", conv(bn_size * growth, growth, 3, 1, 1));
}

Tensor DenseLayer::forward(const Tensor& x) { return forward_many({x}); }

Tensor DenseLayer::forward_many(const std::vector<Tensor>& features) {
  // The bottleneck conv1(relu1(norm1(cat(features)))): [N, bn_size*growth, H, W]. Its function
  // owns the three modules it runs (no pointer to this layer), so a replace() cannot pull them
  // from under a graph that is waiting for its backward.
  // norm1 + relu1 (and norm2 + relu2 below) run as one fused pass when they may (layers/conv_bn.h).
  CheckpointFn bottleneck = [norm = norm1.module(), relu = relu1.module(), conv = conv1.get()](const std::vector<Tensor>& f) {
    return (*conv)(bn_act(norm, relu, f.size() == 1 ? f[0] : concat_channels(f)));
  };
  const Tensor& x0 = features[0];
  if (fusion_enabled() && x0.device() == Device::CPU && !needs_grad(features) && !needs_grad(parameters())) {
    // Nothing to differentiate (inference, a frozen backbone): no checkpoint, and norm2 + relu2
    // fold into conv1's output pass.
    const Tensor h = bn_act(norm1.module(), relu1.module(), features.size() == 1 ? x0 : concat_channels(features));
    return conv2(conv_bn_act(conv1.module(), norm2.module(), relu2.module(), h));
  }
  Tensor b;
  if (memory_efficient) {
    std::vector<Tensor> params = norm1->parameters(), conv_params = conv1->parameters();
    params.insert(params.end(), conv_params.begin(), conv_params.end());
    b = checkpoint(bottleneck, features, params, {norm1->running_mean, norm1->running_var, norm1->num_batches_tracked});
  } else {
    b = bottleneck(features);
  }
  return conv2(bn_act(norm2.module(), relu2.module(), b));  // [N, growth, H, W]
}

DenseBlock::DenseBlock(int64_t layers, int64_t in, int64_t growth, int64_t bn_size) : Module("_DenseBlock") {
  for (int64_t i = 0; i < layers; ++i)
    register_module("denselayer" + std::to_string(i + 1), std::make_shared<DenseLayer>(in + i * growth, growth, bn_size));
}

Tensor DenseBlock::forward(const Tensor& x) {
  std::vector<Tensor> features = {x};
  for (auto& [name, layer] : children()) features.push_back((*layer)(features));  // each sees all before it
  return concat_channels(features);
}

DenseNet::DenseNet(int64_t growth, const std::vector<int64_t>& block_config, int64_t init_features, int64_t bn_size,
                   int64_t num_classes, const std::string& arch)
    : ImageClassifier("DenseNet", arch) {
  auto layers = std::make_shared<Sequential>();
  layers->add("conv0", conv(3, init_features, 7, 2, 3));
  layers->add("norm0", std::make_shared<BatchNorm2d>(init_features));
  layers->add("relu0", std::make_shared<ReLU>(true));
  layers->add("pool0", std::make_shared<MaxPool2d>(3, 2, 1));
  int64_t c = init_features;
  for (size_t i = 0; i < block_config.size(); ++i) {
    const std::string k = std::to_string(i + 1);
    layers->add("denseblock" + k, std::make_shared<DenseBlock>(block_config[i], c, growth, bn_size));
    c += block_config[i] * growth;
    if (i + 1 == block_config.size()) break;
    auto transition = std::make_shared<Sequential>();  // torchvision's _Transition
    transition->add("norm", std::make_shared<BatchNorm2d>(c));
    transition->add("relu", std::make_shared<ReLU>(true));
    transition->add("conv", conv(c, c / 2, 1, 1, 0));
    transition->add("pool", std::make_shared<AvgPool2d>(2, 2));
    layers->add("transition" + k, transition);
    c /= 2;
  }
  layers->add("norm5", std::make_shared<BatchNorm2d>(c));
  features = register_module("features", layers);
  auto linear = std::make_shared<Linear>(c, num_classes);
  linear->bias.zero_();
  classifier = register_module("classifier", linear);
}

Tensor DenseNet::forward(const Tensor& x) {
  Tensor h = features(x);                      // [N,1024,H/32,W/32]
  h = relu(h);
  h = flatten(adaptive_avg_pool2d(h, 1, 1));   // [N,1024]
  return classifier(h);
}

void DenseNet::set_memory_efficient(bool on) {
  for (auto& [name, m] : named_modules())
    if (auto* layer = dynamic_cast<DenseLayer*>(m.get())) layer->memory_efficient = on;
}

std::shared_ptr<DenseNet> densenet121(int64_t num_classes) {
  return std::make_shared<DenseNet>(32, std::vector<int64_t>{6, 12, 24, 16}, 64, 4, num_classes);
}

}  // namespace graft
