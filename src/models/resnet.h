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

#include "models/classifier.h"

namespace graft {

class BasicBlock : public Module {
 public:
  // x: [N,in,H,W] -> [N,out,H/stride,W/stride]
  BasicBlock(int64_t in, int64_t out, int64_t stride);
  Tensor forward(const Tensor& x) override;
};

class ResNet : public ImageClassifier {
 public:
  // blocks per layer: {2,2,2,2} for ResNet18.
  ResNet(const std::vector<int64_t>& layers, int64_t num_classes = 1000, const std::string& arch = "resnet18");
  Tensor forward(const Tensor& x) override;
};

std::shared_ptr<ResNet> resnet18(int64_t num_classes = 1000);

}  // namespace graft
