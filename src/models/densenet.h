// src/models/densenet.h — DenseNet121 exactly as torchvision.models.densenet121.
//
//   features: conv0 7x7/2 (64) - norm0 - relu0 - pool0 3x3/2 -
//             denseblock1 (6 layers) - transition1 - denseblock2 (12) - transition2 -
//             denseblock3 (24) - transition3 - denseblock4 (16) - norm5
//   then relu - adaptive avg pool 1x1 - flatten - classifier Linear(1024, num_classes)
//   (those three are plain function calls, as in torchvision, so they have no names).
//   DenseLayer (growth k = 32, bottleneck 4k = 128):
//     new = conv2_3x3(relu2(norm2(conv1_1x1(relu1(norm1(cat(previous features)))))))  [N,k,H,W]
//   DenseBlock: features = [x]; each layer appends its `new`; output = cat(features)
//   Transition: norm - relu - conv 1x1 (halves the channels) - pool (avg 2x2/2)
// x: [N,3,H,W] -> logits [N,num_classes]. 7,978,856 parameters for 1000 classes.
//
// Design note (memory): torchvision's default concatenates, in every dense layer, all the
// features before it, and autograd keeps each concatenation (norm1's input) and its
// norm1/relu1 outputs for backward: (C0 + i k) channels for layer i, so a block's saved
// activations grow quadratically with its layer count. graft does what torchvision's
// memory_efficient=True does: the bottleneck conv1(relu1(norm1(cat(features)))) is
// checkpointed — computed without recording a graph, and recomputed in backward from the
// feature list, which the block holds anyway. What stays alive per layer is then its own
// 128 + 32 channels: memory linear in depth, for ~25% more compute in training the blocks
// (and none when they are frozen or under NoGradGuard: no graph, no recompute). A
// preallocated per-block buffer would avoid the copies as well, but needs channel-strided
// views that graft's contiguous tensors do not have. DenseNet::set_memory_efficient(false)
// gives torchvision's default behaviour (same numbers, faster, quadratic memory). The
// checkpoint is autograd/checkpoint.h; it runs the layer's own modules, held by shared
// ownership, and restores norm1's running statistics after the recomputation.
// Init as torchvision: convs kaiming_normal (fan_in), batch norm 1/0, classifier bias 0.
#pragma once

#include <memory>
#include <vector>

#include "layers/activation.h"
#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "models/classifier.h"

namespace graft {

// features [N, C_j, H, W] (sum C_j = in), or their concatenation -> [N, growth, H, W]
class DenseLayer : public Module {
 public:
  DenseLayer(int64_t in, int64_t growth, int64_t bn_size);
  bool memory_efficient = true;  // checkpoint the bottleneck (see the design note)

 protected:
  Tensor forward(const Tensor& x) override;                         // x: the concatenated features
  Tensor forward_many(const std::vector<Tensor>& features) override;  // the list of earlier features

 private:
  Child<BatchNorm2d> norm1, norm2;
  Child<ReLU> relu1, relu2;
  Child<Conv2d> conv1, conv2;
};

// x: [N, in, H, W] -> [N, in + layers * growth, H, W]
class DenseBlock : public Module {
 public:
  DenseBlock(int64_t layers, int64_t in, int64_t growth, int64_t bn_size);

 protected:
  Tensor forward(const Tensor& x) override;
};

class DenseNet : public ImageClassifier {
 public:
  DenseNet(int64_t growth, const std::vector<int64_t>& block_config, int64_t init_features, int64_t bn_size,
           int64_t num_classes = 1000, const std::string& arch = "densenet121");
  void set_memory_efficient(bool on);  // on every DenseLayer (default on)

 protected:
  Tensor forward(const Tensor& x) override;

 private:
  Child<Module> features;
  Child<Module> classifier;
};

std::shared_ptr<DenseNet> densenet121(int64_t num_classes = 1000);

}  // namespace graft
