// src/models/resnet.h — ResNet18 exactly as torchvision.models.resnet18.
//
//   conv1 7x7/2 (64) - bn1 - relu - maxpool 3x3/2 - layer1..layer4 (2 BasicBlocks each, 64,
//   128, 256, 512 channels; the first block of layer2..4 has stride 2 and a downsample) -
//   avgpool (adaptive 1x1) - flatten - fc Linear(512, num_classes)
//   BasicBlock: out = relu(bn2(conv2(relu(bn1(conv1(x))))) + identity),
//               identity = downsample(x) = bn(conv1x1/stride(x)) when the shape changes, else x
//   backward of the sum: the gradient flows to both branches and adds up at x (Note
//   [Gradient accumulation] in autograd/engine.h).
// x: [N,3,H,W] -> logits [N,num_classes]. 11,689,512 parameters for 1000 classes.
// Init as torchvision: convs kaiming_normal(fan_out, relu), batch norm 1/0, fc PyTorch default.
#pragma once

#include <memory>
#include <vector>

#include "layers/activation.h"
#include "layers/adaptive_avg_pool2d.h"
#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/pool2d.h"
#include "layers/sequential.h"
#include "models/classifier.h"

namespace graft {

class BasicBlock : public Module {
 public:
  // x: [N,in,H,W] -> [N,out,H/stride,W/stride]
  BasicBlock(int64_t in, int64_t out, int64_t stride);

 protected:
  Tensor forward(const Tensor& x) override;

 private:
  Child<Conv2d> conv1, conv2;
  Child<BatchNorm2d> bn1, bn2;
  Child<ReLU> relu;
  Child<Sequential> downsample;  // empty when the shape does not change
};

class ResNet : public ImageClassifier {
 public:
  // blocks per layer: {2,2,2,2} for ResNet18.
  ResNet(const std::vector<int64_t>& layers, int64_t num_classes = 1000, const std::string& arch = "resnet18");

 protected:
  Tensor forward(const Tensor& x) override;

 private:
  Child<Conv2d> conv1;
  Child<BatchNorm2d> bn1;
  Child<ReLU> relu;
  Child<MaxPool2d> maxpool;
  std::vector<Child<Sequential>> layers_;  // layer1 .. layer4
  Child<AdaptiveAvgPool2d> avgpool;
  Child<Module> fc;  // the head: any module after replace("fc", ...)
};

std::shared_ptr<ResNet> resnet18(int64_t num_classes = 1000);

}  // namespace graft
