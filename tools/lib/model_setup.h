// tools/lib/model_setup.h — "build a model from options", shared by graft train / features /
// eval / predict / summary, and the checkpoint format they exchange.
//
// Options (add_model_options declares them, model_options reads them):
//   --model vgg16|resnet18|densenet121|spec:<layer spec>   (spec: src/models/spec.h)
//   --input-size CxHxW      one sample's shape for spec models (e.g. 3x32x32), default 3x224x224
//   --weights FILE|none     HDF5 weights; with --pretrained and no --weights: weights/<arch>.h5
//   --pretrained            use the default weights file (find_weights)
//   --head SPEC             replaces the head, e.g. "linear(256) relu dropout(0.4) linear(n) logsoftmax"
//   --replace NAME          which module the head replaces (default: the arch's head — classifier.6,
//                           fc, classifier — or, for a spec model, its last layer with parameters)
//   --freeze backbone|none|all-but-last:N|prefix:a,b
//   --device cpu|cuda
// Order of the edits (what makes pretrained weights load): build the arch with as many classes
// as the weights file's head has rows (1000 for ImageNet's; see Note [The head's size from the
// file] in model_setup.cpp: a converted torchvision model with fc = Linear(512, 5) loads) ->
// load the ImageNet weights -> replace the head (a fresh, trainable module) -> freeze -> move.
//
// A *model checkpoint* (best.h5, the file eval/predict read) is graft's weights format
// (models.h save_weights: one dataset per state_dict key, attributes architecture,
// class_names, preprocess, mean, std) plus what it takes to rebuild the model alone:
//   graft_model    "resnet18" | "spec:<text>" | "head" (a head trained on a features file)
//   graft_head     the head spec ("" = none), graft_replace the module it replaced,
//   graft_input    the input shape of one sample ("3x32x32" or "512" for a features head),
//   graft_eval_transform   the transform spec for evaluation,
//   graft_loss     nll | cross-entropy | bce (how to turn outputs into probabilities).
// so `graft eval --checkpoint best.h5 DATA` needs no other option.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <functional>

#include "args.h"
#include "layers/module.h"
#include "models/models.h"
#include "tensor/hdf5_io.h"
#include "tensor/tensor.h"

namespace graft::tools {

struct ModelOptions {
  std::string model = "resnet18";
  std::string input_size = "";  // "" = the default for the model kind
  std::string weights = "";     // "" = default (pretrained archs: weights/<arch>.h5 if --pretrained)
  bool pretrained = false;
  std::string head = "";
  std::string replace = "";
  std::string freeze = "none";
  std::string device = "cpu";
  // True when --model was not given and the --weights file names its model (a `graft train`
  // checkpoint, or a whole PyTorch model traced by tools/convert_torchvision.py): model,
  // input_size and the eval transform then come from the file's graft_* attributes.
  bool model_from_weights = false;
};

// Declares the options above on a parser (`with_training` adds --freeze).
// model_options: with no --model, a --weights file that names its model (graft_model) gives it.
void add_model_options(ArgParser& p, const std::string& default_model = "resnet18", bool with_training = true);
ModelOptions model_options(const Args& a);

// "3x32x32" -> {3,32,32}; "512" -> {512}. Throws naming the option.
Shape parse_shape(const std::string& text, const std::string& option = "--input-size");
std::string shape_text(const Shape& s);  // {3,32,32} -> "3x32x32"

struct ModelSetup {
  ModulePtr model;
  std::string model_name;   // "resnet18", "spec:...", "head"
  std::string head_spec;    // "" = none
  std::string replaced;     // the module the head replaced ("" = none)
  Shape input_shape;        // one sample: [C,H,W] or [F]
  std::string weights_path; // "" = random init
  std::vector<std::string> weights_class_names;  // class names in the weights file (ImageNet)
  std::string eval_transform, train_transform;   // defaults for this model
  std::vector<double> mean, std;                 // normalization of the eval transform
  Device device = Device::CPU;
  std::vector<std::string> frozen_note;  // what --freeze did, for the log
  bool is_pretrained_arch() const;
};

// Builds the model. num_classes is what `n` means in the head (-1: no head replacement
// allowed with `n`). The freeze option is applied; the model ends on the chosen device.
ModelSetup build_model(const ModelOptions& o, int64_t num_classes);

// Freezes per `--freeze` (see above) and returns a one-line description.
std::string apply_freeze(ModelSetup& s, const std::string& freeze);

// Whether the head is the last thing the model runs (so that model-with-head-replaced-by-
// Identity computes exactly the head's input): true for the three archs and for a spec
// model whose replaced layer is its last.
bool head_is_last(const ModelSetup& s);
// The head module (s.replaced) or nullptr.
ModulePtr head_module(const ModelSetup& s);

// ---- model checkpoints --------------------------------------------------------------------
struct CheckpointInfo {
  std::string model_name, head_spec, replaced, input, eval_transform, loss = "cross-entropy", architecture;
  std::vector<std::string> class_names;
  std::vector<double> mean, std;
};
// What makes a weights file a model checkpoint: its weights info, and the graft_* attributes
// above (also written into a training checkpoint, so that last.h5 evaluates like best.h5).
WeightsInfo checkpoint_weights_info(const ModelSetup& s, const std::vector<std::string>& class_names,
                                    const std::string& eval_transform);
std::function<void(H5File&)> checkpoint_description(const ModelSetup& s, const std::string& eval_transform,
                                                    const std::string& loss);
// save_weights (models.h) with both.
void save_model_checkpoint(const std::string& path, const ModelSetup& s, const std::vector<std::string>& class_names,
                           const std::string& eval_transform, const std::string& loss);
CheckpointInfo read_model_checkpoint_info(const std::string& path);
// Rebuilds the model of a checkpoint and loads its weights (strict). Throws naming the file
// when it is not a graft model checkpoint. `expected_model` (if not empty) must match.
ModelSetup load_model_checkpoint(const std::string& path, const std::string& device, CheckpointInfo* info = nullptr,
                                 const std::string& expected_model = "");
// The model of a command that runs a trained model without data to count classes (explain,
// export): --checkpoint FILE, or --model with --weights. `command` names it in the error.
ModelSetup model_from_options(const Args& a, const std::string& command);

}  // namespace graft::tools
