// src/models/models.cpp — see models.h.
#include "models/models.h"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "layers/activation.h"
#include "layers/dropout.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "layers/softmax.h"
#include "models/densenet.h"
#include "models/resnet.h"
#include "models/vgg.h"
#include "tensor/hdf5_io.h"

namespace graft {

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = {"vgg16", "resnet18", "densenet121"};
  return names;
}

namespace {
std::string known_list() {
  std::string s;
  for (auto& n : model_names()) s += (s.empty() ? "" : ", ") + n;
  return s;
}
bool is_known(const std::string& arch) {
  for (auto& n : model_names())
    if (n == arch) return true;
  return false;
}
}  // namespace

ModulePtr make_model(const std::string& arch, int64_t num_classes) {
  if (arch == "vgg16") return vgg16(num_classes);
  if (arch == "resnet18") return resnet18(num_classes);
  if (arch == "densenet121") return densenet121(num_classes);
  throw std::invalid_argument("make_model: unknown architecture '" + arch + "' (known: " + known_list() + ")");
}

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

LoadReport load_weights(Module& model, const std::string& path, bool strict) {
  NamedTensors tensors;
  {
    H5File f(path, H5File::Mode::Read);
    const std::string want = model_arch(model);
    if (f.has_attr("architecture") && !want.empty()) {
      const std::string have = f.attr_string("architecture");
      if (have != want && have != "other")
        throw std::runtime_error("load_weights: " + path + " holds " + have + " weights but the model is " + want +
                                 "; build the model with make_model(\"" + have + "\") or convert the " + want +
                                 " weights (see weights/README.md)");
    }
    for (const auto& k : f.keys()) tensors.emplace_back(k, f.read(k));
  }
  return model.load_state_dict(tensors, strict, path);
}

void save_weights(const Module& model, const std::string& path, WeightsInfo info) {
  if (info.architecture.empty()) info.architecture = model_arch(model);
  if (info.architecture.empty()) info.architecture = "other";
  // The number of classes: outputs of the last Linear.
  int64_t n = 0;
  for (auto& [name, m] : model.named_modules())
    if (auto* fc = dynamic_cast<Linear*>(m.get())) n = fc->out_features;
  if (info.class_names.empty())
    for (int64_t i = 0; i < n; ++i) info.class_names.push_back(std::to_string(i));
  bool head_log_softmax = false;
  if (is_known(info.architecture) && model.has(head_name(info.architecture))) {
    auto head = model.get(head_name(info.architecture));
    head_log_softmax = !head->children().empty() && head->children().back().second->type() == "LogSoftmax";
  }
  const NamedTensors sd = model.state_dict();
  std::vector<std::string> keys;
  for (auto& [k, t] : sd) keys.push_back(k);
  save_tensors(path, sd, [&](H5File& f) {
    f.set_attr("architecture", info.architecture);
    f.set_attr("class_names", info.class_names);
    f.set_attr("num_classes", static_cast<double>(info.class_names.size()));
    f.set_attr("preprocess", info.preprocess);
    f.set_attr("mean", info.mean);
    f.set_attr("std", info.std);
    f.set_attr("source", info.source.empty() ? std::string("graft") : info.source);
    f.set_attr("keys", keys);
    f.set_attr("head_log_softmax", std::string(head_log_softmax ? "true" : "false"));
  });
}

std::string find_weights(const std::string& arch) {
  const char* env = std::getenv("GRAFT_WEIGHTS");
  const std::string dir = env && *env ? env : "weights";
  const std::string path = dir + "/" + arch + ".h5";
  if (!std::filesystem::exists(path))
    throw std::runtime_error("find_weights: " + path + " not found. Produce it on a machine that can download "
                             "torchvision's weights: python3 tools/convert_torchvision.py --pth <" + arch +
                             "-....pth> --arch " + arch + " --out " + path +
                             " (exact commands in weights/README.md), or set GRAFT_WEIGHTS to its folder");
  return path;
}

// ---- heads --------------------------------------------------------------------------------------

std::string head_name(const std::string& arch) {
  if (arch == "vgg16") return "classifier.6";
  if (arch == "resnet18") return "fc";
  if (arch == "densenet121") return "classifier";
  throw std::invalid_argument("head_name: unknown architecture '" + arch + "' (known: " + known_list() + ")");
}

ModulePtr make_head(int64_t in, const HeadSpec& spec) {
  if (spec.hidden.empty() && !spec.log_softmax) return std::make_shared<Linear>(in, spec.num_classes);
  auto head = std::make_shared<Sequential>();
  for (int64_t h : spec.hidden) {
    head->add(std::make_shared<Linear>(in, h));
    head->add(std::make_shared<ReLU>(true));
    head->add(std::make_shared<Dropout>(spec.dropout));
    in = h;
  }
  head->add(std::make_shared<Linear>(in, spec.num_classes));
  if (spec.log_softmax) head->add(std::make_shared<LogSoftmax>(1));
  return head;
}

std::string replace_head(Module& model, const std::string& arch_or_name, const HeadSpec& spec) {
  const std::string name = is_known(arch_or_name) ? head_name(arch_or_name) : arch_or_name;
  ModulePtr old = model.get(name);
  int64_t in = -1;
  if (auto* fc = dynamic_cast<Linear*>(old.get())) in = fc->in_features;
  for (auto& [n, m] : old->named_modules())
    if (auto* fc = dynamic_cast<Linear*>(m.get()); fc && in < 0) in = fc->in_features;
  if (in < 0) throw std::invalid_argument("replace_head: '" + name + "' (" + old->type() + ") holds no Linear to take the input size from");
  model.replace(name, make_head(in, spec));
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
    if (hits == 0) throw std::invalid_argument("freeze_prefixes: no parameter name starts with '" + prefix + "'");
    frozen += hits;
  }
  return frozen;
}

std::vector<std::string> freeze_all_but_last(Module& model, int64_t n) {
  std::vector<std::pair<std::string, ModulePtr>> owners;  // leaf modules with parameters
  for (auto& [name, m] : model.named_modules())
    if (m->children().empty() && !m->named_parameters().empty()) owners.emplace_back(name, m);
  if (n < 0 || n > static_cast<int64_t>(owners.size()))
    throw std::invalid_argument("freeze_all_but_last: n = " + std::to_string(n) + " but the model has " +
                                std::to_string(owners.size()) + " modules with parameters");
  model.freeze();
  std::vector<std::string> trainable;
  for (size_t i = owners.size() - static_cast<size_t>(n); i < owners.size(); ++i) {
    owners[i].second->unfreeze();
    trainable.push_back(owners[i].first);
  }
  return trainable;
}

}  // namespace graft
