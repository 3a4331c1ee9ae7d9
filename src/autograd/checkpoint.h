// src/autograd/checkpoint.h — trading compute for memory: recompute a piece of the forward in
// backward instead of keeping its intermediate tensors (torch.utils.checkpoint).
//
//   y = checkpoint(fn, inputs)   runs fn(inputs) without recording a graph, and records ONE node
//                                whose backward runs fn again with recording on and back-
//                                propagates through that.
// Between forward and backward only the inputs and y are kept, not what fn computed on the way.
// DenseNet uses it for every dense layer's bottleneck (models/densenet.h): memory linear in
// depth instead of quadratic.
//
// params: the parameters fn uses. They are inputs of the node (so that it is recorded when they
// need a gradient even if no input does), and they receive their gradients in the backward's
// inner sweep, accumulated into .grad as usual.
// state: tensors fn updates as a side effect (batch norm's running statistics). The
// recomputation would update them a second time; they are restored from a copy afterwards, so
// the forward's update is the only one, as without the checkpoint.
// fn must compute the same thing when run again: the same mode (training or eval), and no
// randomness (no dropout inside).
#pragma once

#include <functional>
#include <vector>

#include "tensor/tensor.h"

namespace graft {

using CheckpointFn = std::function<Tensor(const std::vector<Tensor>& inputs)>;

Tensor checkpoint(CheckpointFn fn, const std::vector<Tensor>& inputs, const std::vector<Tensor>& params = {},
                  const std::vector<Tensor>& state = {});

}  // namespace graft
