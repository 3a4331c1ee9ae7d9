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
// Design note (memory): each dense layer concatenates all features before it, like
// torchvision (memory_efficient=False). The concatenations a block keeps for backward grow
// quadratically with its layer count (block 3: 24 inputs of 256..992 channels at 14x14 on a
// 224 image, ~9 MB per image for all of them), which is fine at DenseNet121's depth and keeps
// the code and the gradients exactly torchvision's. The alternative — one preallocated
// [N, C_final, H, W] buffer per block that every layer writes its k channels into — would need
// channel-strided views that graft's contiguous tensors do not have; it is the upgrade path
// if deeper DenseNets are ever added.
// Init as torchvision: convs kaiming_normal (fan_in), batch norm 1/0, classifier bias 0.
#pragma once

#include <memory>

#include "models/classifier.h"

namespace graft {

// x: [N, in, H, W] (the concatenated features) -> [N, growth, H, W]
class DenseLayer : public Module {
 public:
  DenseLayer(int64_t in, int64_t growth, int64_t bn_size);
  Tensor forward(const Tensor& x) override;
};

// x: [N, in, H, W] -> [N, in + layers * growth, H, W]
class DenseBlock : public Module {
 public:
  DenseBlock(int64_t layers, int64_t in, int64_t growth, int64_t bn_size);
  Tensor forward(const Tensor& x) override;
};

class DenseNet : public ImageClassifier {
 public:
  DenseNet(int64_t growth, const std::vector<int64_t>& block_config, int64_t init_features, int64_t bn_size,
           int64_t num_classes = 1000, const std::string& arch = "densenet121");
  Tensor forward(const Tensor& x) override;
};

std::shared_ptr<DenseNet> densenet121(int64_t num_classes = 1000);

}  // namespace graft
