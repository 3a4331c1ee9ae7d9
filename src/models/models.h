// src/models/models.h — building the pretrained architectures by name, their weight files,
// and the transfer-learning edits: replacing the head, freezing the backbone.
//
//   auto model = make_model("vgg16");                       // torchvision's names and shapes
//   load_weights(*model, find_weights("vgg16"));            // weights/vgg16.h5 (see weights/README.md)
//   replace_head(*model, "vgg16", {{256}, 100, 0.4f, true}); // classifier.6 -> 4096-256-100
//   freeze_all_but_last(*model, 2);                         // only the two new Linears train
//   ... train ...
//   save_weights(*model, "finetuned.h5", info);             // loads back into torchvision too
//
// Weight files are the HDF5 format of tools/convert_torchvision.py: one dataset per
// state_dict key plus root attributes architecture, class_names, num_classes, preprocess,
// mean, std, source, keys (see weights/README.md).
#pragma once

#include <string>
#include <vector>

#include "layers/module.h"

namespace graft {

// "vgg16", "resnet18", "densenet121".
const std::vector<std::string>& model_names();
// A freshly initialized model (an ImageClassifier); throws listing model_names() otherwise.
ModulePtr make_model(const std::string& arch, int64_t num_classes = 1000);
// The architecture recorded in a model built by make_model ("" for other modules).
std::string model_arch(const Module& model);

// ---- weights --------------------------------------------------------------------------------
struct WeightsInfo {
  std::string architecture;               // "vgg16", ..., or "other"
  std::vector<std::string> class_names;   // index order
  std::string preprocess = "resize=256,center_crop=224,normalize=imagenet";
  std::vector<double> mean = {0.485, 0.456, 0.406}, std = {0.229, 0.224, 0.225};
  std::string source;
};
// The attributes of a weights file (missing ones keep the defaults above).
WeightsInfo read_weights_info(const std::string& path);
// Copies the file's tensors into the model by name (Module::load_state_dict). Throws when the
// file's "architecture" differs from the model's, and — strict — on any missing, unexpected or
// mis-shaped key (naming it and both shapes). Non-strict returns what it skipped.
LoadReport load_weights(Module& model, const std::string& path, bool strict = true);
// Writes the state_dict (torchvision's names, key order in the "keys" attribute) and `info`
// atomically (tmp + rename). Empty architecture: the model's. Empty class names: "0".."n-1".
void save_weights(const Module& model, const std::string& path, WeightsInfo info = {});
// "<dir>/<arch>.h5" with dir = $GRAFT_WEIGHTS or "weights"; throws with the commands of
// weights/README.md when it does not exist.
std::string find_weights(const std::string& arch);

// ---- heads --------------------------------------------------------------------------------
// The module that produces the logits: "classifier.6" (vgg16), "fc" (resnet18),
// "classifier" (densenet121). Throws for other names.
std::string head_name(const std::string& arch);
// Linear(in, hidden[0]) - ReLU - Dropout(dropout) - ... - Linear(.., num_classes) [- LogSoftmax]
// as an nn.Sequential (names "0", "1", ...); with no hidden layers and no log_softmax, a single
// Linear (so "fc.weight", as `model.fc = nn.Linear(512, n)` in PyTorch).
struct HeadSpec {
  std::vector<int64_t> hidden;
  int64_t num_classes = 1000;
  float dropout = 0.5f;
  bool log_softmax = false;
};
ModulePtr make_head(int64_t in_features, const HeadSpec& spec);
// Replaces head_name(arch_or_name) — or the module of that dotted name if it is not an
// architecture — by make_head(in, spec), where `in` is the in_features of the first Linear
// of the module replaced. Returns the name replaced. The new head is trainable.
std::string replace_head(Module& model, const std::string& arch_or_name, const HeadSpec& spec);

// ---- freezing -------------------------------------------------------------------------------
// requires_grad = false for every parameter whose name is `prefix` or starts with `prefix.`.
// Returns the number of parameter tensors frozen; throws if a prefix matches nothing.
int64_t freeze_prefixes(Module& model, const std::vector<std::string>& prefixes);
// Freezes everything except the last n modules that own parameters (in registration order:
// VGG16 with the head above and n = 2 trains only the head's two Linears). Returns the names
// of the modules left trainable.
std::vector<std::string> freeze_all_but_last(Module& model, int64_t n);
// Frozen batch norm layers: see ImageClassifier::frozen_bn_eval (classifier.h) — after
// freezing, model.train() keeps them in eval mode.

}  // namespace graft
