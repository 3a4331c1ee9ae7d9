// src/models/models.h — the architecture registry, weight files, and the transfer-learning
// edits: replacing the head, freezing the backbone.
//
//   auto model = make_model("vgg16");                       // torchvision's names and shapes
//   load_weights(*model, find_weights("vgg16"));            // weights/vgg16.h5 (see weights/README.md)
//   replace_head(*model, "vgg16", "linear(256) relu dropout(0.4) linear(n) logsoftmax", 100);
//   freeze_all_but_last(*model, 2);                         // only the two new Linears train
//   ... train ...
//   save_weights(*model, "finetuned.h5", info);             // loads back into torchvision too
//
// Weight files are the HDF5 format of tools/convert_torchvision.py: one dataset per
// state_dict key plus root attributes architecture, class_names, num_classes, preprocess,
// mean, std, source, keys (see weights/README.md).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "layers/module.h"
#include "tensor/hdf5_io.h"

namespace graft {

// ---- the registry ---------------------------------------------------------------------------
// Everything graft knows about a pretrained architecture, in one place (models.cpp): every tool
// and library function that needs "which module is the head" or "how were the weights'
// images preprocessed" asks here.
struct Architecture {
  const char* name;                               // "resnet18"
  ModulePtr (*make)(int64_t num_classes);         // torchvision's model, freshly initialized
  const char* head;                               // the module that produces the logits: "fc"
  const char* eval_transform;                     // the weights' preprocessing (transforms spec)
  const char* train_transform;                    // the usual augmentation when fine-tuning it
};
// vgg16, resnet18, densenet121, in that order.
const std::vector<Architecture>& architectures();
// The architecture of that name, or nullptr.
const Architecture* find_architecture(const std::string& name);
// The architecture of that name; throws listing the known ones.
const Architecture& architecture(const std::string& name);
// "vgg16", "resnet18", "densenet121".
std::vector<std::string> model_names();
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
// Copies the file's tensors into the model by name (Module::load_state_dict): the datasets the
// "keys" attribute lists, or all of them in a file without it. Throws when the file's
// "architecture" differs from the model's, and — strict — on any missing, unexpected or
// mis-shaped key (naming it and both shapes). Non-strict returns what it skipped.
// See Note [A prefix the model lacks]: a file whose every key is "<P>.<a model key>" loads
// without the prefix, and the report's dropped_prefix says so (the tools print it).
LoadReport load_weights(Module& model, const std::string& path, bool strict = true);
// The prefix "P." (ending with the dot) such that stripping it from every one of `file_keys`
// gives exactly `model_keys`; "" when the names match as they are or no such prefix exists.
std::string prefix_the_model_lacks(const std::vector<std::string>& file_keys,
                                   const std::vector<std::string>& model_keys);
// What else a weights file can carry: more datasets (a training checkpoint's "optim.*") and
// more attributes (written after graft's own: a checkpoint's model description, its epoch).
struct WeightsExtras {
  NamedTensors datasets;
  std::function<void(H5File&)> attributes;
};
// graft's one writer of weight files, checkpoints included: the state_dict (torchvision's
// names; their order in the "keys" attribute, which is also how a reader tells the model's
// datasets from the extras), `info` and the extras, atomically (tmp + rename). Empty
// architecture: the model's. Empty class names: "0".."n-1". Empty mean/std: not written.
void save_weights(const Module& model, const std::string& path, WeightsInfo info = {},
                  const WeightsExtras& extras = {});
// "<dir>/<arch>.h5" with dir = $GRAFT_WEIGHTS or "weights"; throws with the commands of
// weights/README.md when it does not exist.
std::string find_weights(const std::string& arch);

// ---- heads --------------------------------------------------------------------------------
// The module that produces the logits: "classifier.6" (vgg16), "fc" (resnet18),
// "classifier" (densenet121). Throws for other names.
std::string head_name(const std::string& arch);
// Replaces head_name(arch_or_name) — or the module of that dotted name if it is not an
// architecture — by a head built from a spec (models/spec.h: "linear(n)", or
// "linear(256) relu dropout(0.4) linear(n) logsoftmax") whose input is the replaced module's
// input features and whose `n` is num_classes. One layer is put there as itself ("fc.weight",
// as `model.fc = nn.Linear(512, n)` in PyTorch), several as an nn.Sequential ("fc.0.weight").
// Returns the name replaced. The new head is trainable.
std::string replace_head(Module& model, const std::string& arch_or_name, const std::string& head_spec,
                         int64_t num_classes);

// ---- freezing -------------------------------------------------------------------------------
// requires_grad = false for every parameter whose name is `prefix` or starts with `prefix.`.
// Returns the number of parameter tensors frozen; throws if a prefix matches nothing.
int64_t freeze_prefixes(Module& model, const std::vector<std::string>& prefixes);
// Freezes everything except the last n modules that own parameters (in registration order:
// VGG16 with the head above and n = 2 trains only the head's two Linears). Returns the names
// of the modules left trainable.
std::vector<std::string> freeze_all_but_last(Module& model, int64_t n);
// Frozen batch norm layers use their running statistics in training too: see BatchNorm2d
// (layers/batch_norm2d.h).

}  // namespace graft
