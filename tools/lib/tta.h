// tools/lib/tta.h — test-time augmentation (graft eval / predict --tta): the model sees several
// views of each image and its class probabilities are averaged over them.
//
//   flip       2 views: the image as the transform gives it, and mirrored left-right (the
//              model's input tensor flipped along W, as torchvision's TF.hflip(x)).
//   five-crop  5 views: torchvision's FiveCrop in place of the transform's center_crop=S step:
//              the S-sized crops at the top-left, top-right, bottom-left and bottom-right
//              corners and the center, of the image as it is before that step.
//   p(c | image) = mean over views v of softmax(model(v))[c]   (sigmoid for one output)
// The mean probability goes back into the metrics as its logarithm (log-probabilities are
// valid logits there: metrics.h), so top-1 is the argmax of the mean and the cross-entropy
// is -log of the mean probability of the true class.
#pragma once

#include <string>
#include <vector>

#include "data/pipeline.h"
#include "tensor/tensor.h"

namespace graft::tools {

// The pipelines of the views of `mode` ("none": just `base`). Throws naming the mode, or the
// missing center_crop step for five-crop.
std::vector<Pipeline> tta_pipelines(const Pipeline& base, const std::string& mode);

// outputs of each view: [N,L] logits (L = 1: one BCE logit) -> [N,L] log of the mean
// probabilities (L = 1: the logit of the mean sigmoid, log(p / (1 - p))).
Tensor tta_combine(const std::vector<Tensor>& outputs);

}  // namespace graft::tools
