// src/models/models.cpp — see models.h.
#include "models/models.h"

#include <cstdlib>
#include <filesystem>
#include <set>

#include "layers/linear.h"
#include "models/densenet.h"
#include "models/resnet.h"
#include "models/spec.h"
#include "models/vgg.h"
#include "tensor/check.h"
#include "tensor/hdf5_io.h"

namespace graft {

// ---- the registry -------------------------------------------------------------------------------

namespace {
constexpr const char* kImageNetEval = "resize=256,center_crop=224,normalize=imagenet";  // torchvision's
constexpr const char* kImageNetTrain = "random_resized_crop=224,hflip,normalize=imagenet";
}  // namespace

const std::vector<Architecture>& architectures() {
  static const std::vector<Architecture> table = {
      {"vgg16", [](int64_t n) -> ModulePtr { return vgg16(n); }, "classifier.6", kImageNetEval, kImageNetTrain},
      {"resnet18", [](int64_t n) -> ModulePtr { return resnet18(n); }, "fc", kImageNetEval, kImageNetTrain},
      {"densenet121", [](int64_t n) -> ModulePtr { return densenet121(n); }, "classifier", kImageNetEval,
       kImageNetTrain},
  };
  return table;
}

const Architecture* find_architecture(const std::string& name) {
  for (const Architecture& a : architectures())
    if (name == a.name) return &a;
  return nullptr;
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const Architecture& a : architectures()) names.emplace_back(a.name);
  return names;
}

const Architecture& architecture(const std::string& name) {
  if (const Architecture* a = find_architecture(name)) return *a;
  std::string known;
  for (const auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  GRAFT_FAIL("", "unknown architecture '", name, "' (known: ", known, ")");
}

ModulePtr make_model(const std::string& arch, int64_t num_classes) { return architecture(arch).make(num_classes); }

std::string model_arch(const Module& model) {
  auto* c = dynamic_cast<const ImageClassifier*>(&model);
  return c ? c->arch() : "";
}

// ---- weights ----------------------------------------------------------------------------------

WeightsInfo read_weights_info(const std::string& path) {
  H5File f(path, H5File::Mode::Read);
  WeightsInfo info;
  if (f.has_attr("architecture")) info.architecture = f.attr_string("architecture");
  if (f.has_attr("class_names")) info.class_names = f.attr_strings("class_names");
  if (f.has_attr("preprocess")) info.preprocess = f.attr_string("preprocess");
  if (f.has_attr("mean")) info.mean = f.attr_numbers("mean");
  if (f.has_attr("std")) info.std = f.attr_numbers("std");
  if (f.has_attr("source")) info.source = f.attr_string("source");
  return info;
}

// Note [A prefix the model lacks]
// A user's PyTorch class that keeps its layers in an attribute (self.main = nn.Sequential(...))
// saves "main.0.weight", where the same layers written as a graft spec are "0.weight". Renaming
// keys by hand should never be needed, and guessing is never wanted: the prefix is dropped only
// when it is one dotted prefix shared by every key of the file and the keys without it are
// exactly the model's names — any other mismatch still fails, naming the keys.
std::string prefix_the_model_lacks(const std::vector<std::string>& file_keys,
                                   const std::vector<std::string>& model_keys) {
  const std::set<std::string> want(model_keys.begin(), model_keys.end());
  if (file_keys.empty() || std::set<std::string>(file_keys.begin(), file_keys.end()) == want) return "";
  for (size_t dot = file_keys[0].find('.'); dot != std::string::npos; dot = file_keys[0].find('.', dot + 1)) {
    const std::string prefix = file_keys[0].substr(0, dot + 1);
    std::set<std::string> stripped;
    for (const auto& k : file_keys) {
      if (k.rfind(prefix, 0) != 0) return "";  // a shorter prefix was not shared: no longer one is
      stripped.insert(k.substr(prefix.size()));
    }
    if (stripped == want && stripped.size() == file_keys.size()) return prefix;
  }
  return "";
}

LoadReport load_weights(Module& model, const std::string& path, bool strict) {
  NamedTensors tensors;
  std::string prefix;
  {
    H5File f(path, H5File::Mode::Read);
    const std::string want = model_arch(model);
    if (f.has_attr("architecture") && !want.empty()) {
      const std::string have = f.attr_string("architecture");
      GRAFT_CHECK_DATA(have == want || have == "other", "load_weights", path, " holds ", have,
                       " weights but the model is ", want, "; build the model with make_model(\"", have,
                       "\") or convert the ", want, " weights (see weights/README.md)");
    }
    const std::vector<std::string> keys = f.has_attr("keys") ? f.attr_strings("keys") : f.keys();
    std::vector<std::string> model_keys;
    for (const auto& [k, t] : model.state_dict()) model_keys.push_back(k);
    prefix = prefix_the_model_lacks(keys, model_keys);
    for (const auto& k : keys) tensors.emplace_back(k.substr(prefix.size()), f.read(k));
  }
  LoadReport report = model.load_state_dict(tensors, strict, path);
  report.dropped_prefix = prefix;
  return report;
}

void save_weights(const Module& model, const std::string& path, WeightsInfo info, const WeightsExtras& extras) {
  if (info.architecture.empty()) info.architecture = model_arch(model);
  if (info.architecture.empty()) info.architecture = "other";
  // The number of classes: outputs of the last Linear.
  int64_t n = 0;
  for (auto& [name, m] : model.named_modules())
    if (auto* fc = dynamic_cast<Linear*>(m.get())) n = fc->out_features;
  if (info.class_names.empty())
    for (int64_t i = 0; i < n; ++i) info.class_names.push_back(std::to_string(i));
  bool head_log_softmax = false;
  if (find_architecture(info.architecture) && model.has(head_name(info.architecture))) {
    auto head = model.get(head_name(info.architecture));
    head_log_softmax = !head->children().empty() && head->children().back().second->type() == "LogSoftmax";
  }
  NamedTensors tensors = model.state_dict();
  std::vector<std::string> keys;
  for (auto& [k, t] : tensors) keys.push_back(k);
  tensors.insert(tensors.end(), extras.datasets.begin(), extras.datasets.end());
  save_tensors(path, tensors, [&](H5File& f) {
    f.set_attr("architecture", info.architecture);
    f.set_attr("class_names", info.class_names);
    f.set_attr("num_classes", static_cast<double>(info.class_names.size()));
    f.set_attr("preprocess", info.preprocess);
    if (!info.mean.empty()) f.set_attr("mean", info.mean);  // an empty list cannot be an HDF5 attribute
    if (!info.std.empty()) f.set_attr("std", info.std);
    f.set_attr("source", info.source.empty() ? std::string("graft") : info.source);
    f.set_attr("keys", keys);
    f.set_attr("head_log_softmax", std::string(head_log_softmax ? "true" : "false"));
    if (extras.attributes) extras.attributes(f);
  });
}

std::string find_weights(const std::string& arch) {
  const char* env = std::getenv("GRAFT_WEIGHTS");
  const std::string dir = env && *env ? env : "weights";
  const std::string path = dir + "/" + arch + ".h5";
  GRAFT_CHECK_DATA(std::filesystem::exists(path), "find_weights", path,
                   " not found. Produce it on a machine that can download torchvision's weights: "
                   "python3 tools/convert_torchvision.py --pth <", arch, "-....pth> --arch ", arch, " --out ", path,
                   " (exact commands in weights/README.md), or set GRAFT_WEIGHTS to its folder");
  return path;
}

// ---- heads --------------------------------------------------------------------------------------

std::string head_name(const std::string& arch) { return architecture(arch).head; }

std::string replace_head(Module& model, const std::string& arch_or_name, const std::string& head_spec,
                         int64_t num_classes) {
  const std::string name = find_architecture(arch_or_name) ? head_name(arch_or_name) : arch_or_name;
  replace_with_head(model, name, head_spec, num_classes);
  return name;
}

// ---- freezing -----------------------------------------------------------------------------------

int64_t freeze_prefixes(Module& model, const std::vector<std::string>& prefixes) {
  int64_t frozen = 0;
  for (const auto& prefix : prefixes) {
    int64_t hits = 0;
    for (auto& [name, p] : model.named_parameters())
      if (name == prefix || name.rfind(prefix + ".", 0) == 0) {
        p.set_requires_grad(false);
        ++hits;
      }
    GRAFT_CHECK(hits > 0, "freeze_prefixes", "no parameter name starts with '", prefix, "'");
    frozen += hits;
  }
  return frozen;
}

std::vector<std::string> freeze_all_but_last(Module& model, int64_t n) {
  std::vector<std::pair<std::string, ModulePtr>> owners;  // leaf modules with parameters
  for (auto& [name, m] : model.named_modules())
    if (m->children().empty() && !m->named_parameters().empty()) owners.emplace_back(name, m);
  GRAFT_CHECK(n >= 0 && n <= static_cast<int64_t>(owners.size()), "freeze_all_but_last", "n = ", n,
              " but the model has ", owners.size(), " modules with parameters");
  model.freeze();
  std::vector<std::string> trainable;
  for (size_t i = owners.size() - static_cast<size_t>(n); i < owners.size(); ++i) {
    owners[i].second->unfreeze();
    trainable.push_back(owners[i].first);
  }
  return trainable;
}

}  // namespace graft
