// src/models/spec.h — networks written as text: small CNNs and classifier heads.
//
//   model spec: conv(8,5) relu maxpool(2) conv(4,3) relu maxpool(3) flatten linear(128) relu linear(1)
//   head spec:  linear(256) relu dropout(0.4) linear(n) logsoftmax          (n = number of classes)
//
// A spec is a list of layers separated by spaces; arguments go in parentheses, by position or
// by name (`conv(16, 3, padding=1)`). Shapes are inferred from the input shape, one sample:
// [C,H,W] for images or [F] for feature vectors, so only output sizes are ever written:
//
//   conv(out, kernel[, stride[, padding]])  [C,H,W] -> [out, (H+2p-k)/s+1, (W+2p-k)/s+1]
//   maxpool(kernel[, stride])  avgpool(kernel[, stride])   stride defaults to kernel, floor mode
//   adaptiveavgpool(h[, w])   [C,H,W] -> [C,h,w]
//   bn                        BatchNorm2d(C) on [C,H,W]
//   relu sigmoid dropout(p=0.5) identity    shape unchanged
//   flatten                   [C,H,W] -> [C*H*W]
//   linear(out)               [F] -> [out]
//   logsoftmax softmax        over the features of [F]
//
// The layers are numbered "0", "1", ... as nn.Sequential numbers them, so a PyTorch
// nn.Sequential with the same layers has the same parameter names ("0.weight", "3.bias") and its
// weights (converted to HDF5) load by name. A prefix wraps the Sequential for models whose
// PyTorch class keeps it in an attribute: prefix "main" gives "main.0.weight".
//
// Two steps, so that parsing and shape inference need no layer code and are easy to test:
// plan_spec() -> one LayerPlan per layer with its input and output shapes; build_*() makes the
// modules from the plans.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"
#include "tensor/tensor.h"

namespace graft {

class Sequential;

struct SpecToken {
  std::string name;               // "conv"
  std::vector<std::string> args;  // {"8", "5"} or {"padding=1"}, trimmed
  std::string text;               // "conv(8,5)" as written
  size_t position = 0;            // 1-based column of the token in the spec
  size_t index = 0;               // 1-based layer number
};
// Splits a spec into layer tokens. Throws std::invalid_argument for unbalanced parentheses or
// stray characters, naming the position. `what` starts messages ("model spec", "head spec").
std::vector<SpecToken> tokenize_spec(const std::string& spec, const std::string& what = "model spec");

struct LayerPlan {
  std::string kind;           // conv maxpool avgpool adaptiveavgpool bn relu sigmoid dropout flatten
                              // linear logsoftmax softmax identity
  SpecToken token;            // where it came from, for messages
  Shape in_shape, out_shape;  // one sample: [C,H,W] or [F]
  int64_t in = 0, out = 0;    // conv: channels; linear: features; bn: channels
  int64_t kernel = 0, stride = 1, padding = 0;  // conv and pooling
  int64_t out_h = 0, out_w = 0;                 // adaptiveavgpool
  float p = 0.5f;                               // dropout
  bool bias = true;                             // conv, linear
  // PyTorch-like text: "Conv2d(3, 8, kernel_size=5, stride=1)", "Linear(324, 128)".
  std::string describe() const;
};
// Parses `spec` and infers every shape from `input_shape`. num_classes (>= 0) is what `n`
// stands for; with num_classes < 0, `n` is an error. Errors name the token, its layer number
// and column, and show the spec with a caret under the bad token.
std::vector<LayerPlan> plan_spec(const std::string& spec, const Shape& input_shape, int64_t num_classes = -1,
                                 const std::string& what = "model spec");

// ---- building modules (needs the layer code) -----------------------------------------------
ModulePtr build_layer(const LayerPlan& plan);
std::shared_ptr<Sequential> build_sequential(const std::vector<LayerPlan>& plans);

struct SpecModel {
  ModulePtr model;                   // the Sequential, or wrappers named by the prefix
  std::shared_ptr<Sequential> body;  // the Sequential itself
  std::vector<LayerPlan> plan;
  Shape output_shape;                // one sample
};
// prefix: "" -> names "0.weight"; "main" -> "main.0.weight"; "a.b" -> "a.b.0.weight".
SpecModel build_spec_model(const std::string& spec, const Shape& input_shape, const std::string& prefix = "",
                           int64_t num_classes = -1);

// A head taking [F] features, with `n` = num_classes: the layer itself when the spec has one
// (as `model.fc = nn.Linear(512, n)`: "fc.weight"), else a Sequential ("fc.0.weight", ...).
// This is graft's one head builder: replace_head (models.h) and the tools use it.
ModulePtr build_head(const std::string& spec, int64_t in_features, int64_t num_classes);
// The number of input features of a module about to be replaced by a head: Linear's
// in_features, or for a Sequential its first module's. Throws naming the type otherwise.
int64_t input_features(const Module& m, const std::string& name = "module");
// model.replace(name, head) where the head's first layer gets the replaced module's input
// features: for VGG16 `classifier.6` (Linear(4096,1000)) and
// "linear(256) relu dropout(0.4) linear(n) logsoftmax" gives 4096 -> 256 -> n. Returns the head.
ModulePtr replace_with_head(Module& model, const std::string& name, const std::string& spec, int64_t num_classes);

}  // namespace graft
