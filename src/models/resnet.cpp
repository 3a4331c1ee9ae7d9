// src/models/resnet.cpp — see resnet.h.
#include "models/resnet.h"

#include "autograd/ops.h"
#include "layers/conv_bn.h"
#include "layers/init.h"
#include "layers/linear.h"

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
  conv1 = register_module("conv1", conv(in, out, 3, stride));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(out));
  relu = register_module("relu", std::make_shared<ReLU>(true));
  conv2 = register_module("conv2", conv(out, out, 3, 1));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(out));
  if (stride != 1 || in != out)
    downsample = register_module("downsample", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
                                                   conv(in, out, 1, stride), std::make_shared<BatchNorm2d>(out)}));
}

Tensor BasicBlock::forward(const Tensor& x) {
  // Fused (layers/conv_bn.h): each conv with its batch norm, the sum and the ReLUs in the conv's
  // output pass; the downsample Sequential fuses its own conv + bn.
  if (may_fuse({conv1.module().get(), bn1.module().get(), relu.module().get(), conv2.module().get(),
                bn2.module().get()},
               x)) {
    const Tensor h = conv_bn_act(conv1.module(), bn1.module(), relu.module(), x);
    const Tensor identity = downsample ? downsample(x) : x;
    return conv_bn_act(conv2.module(), bn2.module(), relu.module(), h, identity);
  }
  Tensor out = relu(bn1(conv1(x)));  // the reference: module by module
  out = bn2(conv2(out));
  const Tensor identity = downsample ? downsample(x) : x;
  return relu(out + identity);
}

ResNet::ResNet(const std::vector<int64_t>& layers, int64_t num_classes, const std::string& arch)
    : ImageClassifier("ResNet", arch) {
  conv1 = register_module("conv1", conv(3, 64, 7, 2));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(64));
  relu = register_module("relu", std::make_shared<ReLU>(true));
  maxpool = register_module("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));
  int64_t in = 64;
  for (size_t i = 0; i < layers.size(); ++i) {  // torchvision's _make_layer
    const int64_t out = 64 << i, stride = i == 0 ? 1 : 2;
    auto layer = std::make_shared<Sequential>();
    for (int64_t b = 0; b < layers[i]; ++b) {
      layer->add(std::make_shared<BasicBlock>(in, out, b == 0 ? stride : 1));
      in = out;
    }
    layers_.push_back(register_module("layer" + std::to_string(i + 1), layer));
  }
  avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1, 1));
  fc = register_module("fc", std::make_shared<Linear>(in, num_classes));
}

Tensor ResNet::forward(const Tensor& x) {
  Tensor h = conv_bn_act(conv1.module(), bn1.module(), relu.module(), x);  // [N,64,H/2,W/2]
  h = maxpool(h);                                   // [N,64,H/4,W/4]
  for (const auto& layer : layers_) h = layer(h);   // layer1..4 -> [N,512,H/32,W/32]
  h = avgpool(h);                                   // [N,512,1,1]
  return fc(flatten(h));                            // [N,num_classes]
}

std::shared_ptr<ResNet> resnet18(int64_t num_classes) { return std::make_shared<ResNet>(std::vector<int64_t>{2, 2, 2, 2}, num_classes); }

}  // namespace graft
