// tools/lib/model_setup.cpp — see model_setup.h.
#include "model_setup.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "layers/sequential.h"
#include "models/models.h"
#include "models/spec.h"
#include "tensor/check.h"
#include "tensor/device.h"
#include "tensor/hdf5_io.h"

namespace graft::tools {
namespace {

bool is_arch(const std::string& m) { return find_architecture(m) != nullptr; }
bool is_spec(const std::string& m) { return m.rfind("spec:", 0) == 0; }

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (const auto& x : v) {
    if (!s.empty()) s += sep;
    s += x;
  }
  return s;
}

// The name of the last child (of the spec model's body) that owns parameters: what a spec
// model's head is by default ("7" for "conv(8,5) relu maxpool(2) flatten linear(10)" is "4").
std::string last_param_child(const ModelSetup& s) {
  std::string last;
  for (const auto& [name, m] : s.model->children())
    if (m->num_parameters() > 0) last = name;
  GRAFT_CHECK(!last.empty(), "", "model ", s.model_name, " has no layer with parameters to replace");
  return last;
}

std::string default_head_name(const ModelSetup& s) {
  if (is_arch(s.model_name)) return head_name(s.model_name);
  return last_param_child(s);
}

void set_transforms(ModelSetup& s, const std::string& preprocess) {
  if (const Architecture* arch = find_architecture(s.model_name)) {
    s.eval_transform = preprocess.empty() ? arch->eval_transform : preprocess;
    s.train_transform = arch->train_transform;
    if (s.mean.empty()) s.mean = WeightsInfo{}.mean, s.std = WeightsInfo{}.std;  // ImageNet's
  } else if (s.input_shape.size() == 3) {
    const std::string size = std::to_string(s.input_shape[1]) + "x" + std::to_string(s.input_shape[2]);
    s.eval_transform = s.train_transform = "resize=" + size;
  }
}

void check_device(Device device) {
  GRAFT_CHECK_DATA(device != Device::CUDA || cuda_available(), "", "--device cuda: no CUDA device available (",
                   device_summary(Device::CUDA), "); use --device cpu");
}

// A head as the file at `path` saved it: files written before one-layer heads stood as
// themselves hold "<prefix>0.weight" (a Sequential around the one layer), and still load.
ModulePtr head_as_saved(ModulePtr head, const std::string& prefix, const std::string& path) {
  if (!head->children().empty()) return head;
  for (const auto& key : H5File(path, H5File::Mode::Read).keys())
    if (key.rfind(prefix + "0.", 0) == 0) return std::make_shared<Sequential>(std::initializer_list<ModulePtr>{head});
  return head;
}

// model.replace(name, the head of `spec`), as the file at `path` saved it.
void rebuild_head(Module& model, const std::string& name, const std::string& spec, int64_t n, const std::string& path) {
  ModulePtr head = replace_with_head(model, name, spec, n);
  ModulePtr saved = head_as_saved(head, name + ".", path);
  if (saved != head) model.replace(name, saved);
}

// Note [A prefix the model lacks] (models.cpp): the loader matched the keys without a prefix; say so.
void say_dropped_prefix(const LoadReport& r, const std::string& path) {
  if (!r.dropped_prefix.empty())
    std::fprintf(stderr, "graft: %s: every key starts with '%s', which the model's names lack; matched them "
                 "without it ('%sNAME' loaded as 'NAME')\n", path.c_str(), r.dropped_prefix.c_str(), r.dropped_prefix.c_str());
}

// Note [The head's size from the file]: a torchvision model fine-tuned as usual
// (`model.fc = nn.Linear(512, 5)`) and converted as it is holds fc.weight [5,512]; the
// architecture built with ImageNet's 1000 classes would refuse it as mis-shaped. So an
// architecture is built with as many classes as the file's head has rows (its head_name's
// ".weight", under any prefix the loader drops), and 1000 when the file has no such key. Said
// on stderr when it is not 1000.
int64_t classes_of_head_in_file(const std::string& arch, const std::string& path) {
  const std::string key = head_name(arch) + ".weight";
  H5File f(path, H5File::Mode::Read);
  for (const auto& k : f.keys()) {
    if (k != key && (k.size() <= key.size() || k.compare(k.size() - key.size() - 1, key.size() + 1, "." + key) != 0))
      continue;
    const Shape s = f.shape_of(k);
    if (s.size() != 2 || s[0] == 1000) return 1000;
    std::fprintf(stderr, "graft: %s: its head %s is [%lld,%lld]: building %s with %lld classes (not ImageNet's 1000)\n",
                 path.c_str(), k.c_str(), static_cast<long long>(s[0]), static_cast<long long>(s[1]), arch.c_str(),
                 static_cast<long long>(s[0]));
    return s[0];
  }
  return 1000;
}

}  // namespace

bool ModelSetup::is_pretrained_arch() const { return is_arch(model_name); }

void add_model_options(ArgParser& p, const std::string& default_model, bool with_training) {
  p.add_string("model", default_model,
               "vgg16, resnet18, densenet121, or spec:<layers> (e.g. 'spec:conv(8,3) relu maxpool(2) flatten linear(n)')")
      .add_string("input-size", "", "input shape of one sample for spec models, CxHxW (default 3x224x224)")
      .add_string("weights", "", "HDF5 weights file, or 'none' for random initialization")
      .add_flag("pretrained", "load weights/<model>.h5 ($GRAFT_WEIGHTS/<model>.h5) when --weights is not given")
      .add_string("head", "", "new head replacing the model's, e.g. 'linear(256) relu dropout(0.4) linear(n) logsoftmax'")
      .add_string("replace", "", "module the head replaces (default: classifier.6 / fc / classifier, or a spec's last layer)")
      .add_string("device", "cpu", "cpu or cuda", false, {"cpu", "cuda"});
  if (with_training)
    p.add_string("freeze", "none", "backbone | none | all | all-but-last:N | prefix:NAME,NAME");
}

ModelOptions model_options(const Args& a) {
  ModelOptions o;
  o.model = a.get("model");
  o.input_size = a.get("input-size");
  o.weights = a.get("weights");
  o.pretrained = a.flag("pretrained");
  o.head = a.get("head");
  o.replace = a.get("replace");
  o.device = a.get("device");
  try {
    o.freeze = a.get("freeze");
  } catch (const std::exception&) {
    o.freeze = "none";  // a command without --freeze
  }
  if (!a.given("model") && !o.weights.empty() && o.weights != "none" && std::filesystem::exists(o.weights)) {
    H5File f(o.weights, H5File::Mode::Read);
    if (f.has_attr("graft_model") && f.attr_string("graft_model") != "head") {
      o.model = f.attr_string("graft_model");
      if (o.input_size.empty() && f.has_attr("graft_input")) o.input_size = f.attr_string("graft_input");
      o.model_from_weights = true;
    }
  }
  return o;
}

Shape parse_shape(const std::string& text, const std::string& option) {
  Shape s;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, 'x')) {
    try {
      size_t used = 0;
      long long v = std::stoll(part, &used);
      GRAFT_CHECK(used == part.size() && v > 0, "", "bad");
      s.push_back(v);
    } catch (const std::exception&) {
      GRAFT_FAIL("", option, " expects sizes like 3x32x32 (channels x height x width) or 512, got '", text, "'");
    }
  }
  GRAFT_CHECK(s.size() == 1 || s.size() == 3, "", option, " expects CxHxW (e.g. 3x32x32) or F (e.g. 512), got '", text,
              "'");
  return s;
}

std::string shape_text(const Shape& s) {
  std::string t;
  for (int64_t d : s) {
    if (!t.empty()) t += 'x';
    t += std::to_string(d);
  }
  return t;
}

ModulePtr head_module(const ModelSetup& s) {
  if (s.replaced.empty() || !s.model->has(s.replaced)) return nullptr;
  return s.model->get(s.replaced);
}

bool head_is_last(const ModelSetup& s) {
  if (s.replaced.empty()) return false;
  // Every component of the dotted name must be the last child of its parent.
  const Module* m = s.model.get();
  std::stringstream ss(s.replaced);
  std::string part;
  while (std::getline(ss, part, '.')) {
    if (m->children().empty() || m->children().back().first != part) return false;
    m = m->children().back().second.get();
  }
  return true;
}

std::string apply_freeze(ModelSetup& s, const std::string& freeze) {
  Module& m = *s.model;
  if (freeze == "none" || freeze.empty()) return "all layers trainable";
  if (freeze == "all") {
    m.freeze();
    return "all layers frozen";
  }
  if (freeze == "backbone") {
    std::string head = s.replaced.empty() ? default_head_name(s) : s.replaced;
    m.freeze();
    m.get(head)->unfreeze();
    return "backbone frozen, training only '" + head + "'";
  }
  if (freeze.rfind("all-but-last:", 0) == 0) {
    int64_t n = 0;
    try {
      n = std::stoll(freeze.substr(13));
    } catch (const std::exception&) {
      GRAFT_FAIL("", "--freeze all-but-last:N expects a number N, got '", freeze, "'");
    }
    auto names = freeze_all_but_last(m, n);
    return "frozen all but the last " + std::to_string(n) + " layers: " + join(names, ", ");
  }
  if (freeze.rfind("prefix:", 0) == 0) {
    std::vector<std::string> prefixes;
    std::stringstream ss(freeze.substr(7));
    std::string p;
    while (std::getline(ss, p, ',')) prefixes.push_back(p);
    int64_t n = freeze_prefixes(m, prefixes);
    return "froze " + std::to_string(n) + " parameter tensors under " + join(prefixes, ", ");
  }
  GRAFT_FAIL("", "--freeze expects backbone, none, all, all-but-last:N or prefix:NAME,NAME; got '", freeze, "'");
}

ModelSetup build_model(const ModelOptions& o, int64_t num_classes) {
  ModelSetup s;
  s.model_name = o.model;
  s.device = parse_device(o.device);
  check_device(s.device);
  std::string preprocess;
  if (is_arch(o.model)) {
    s.input_shape = o.input_size.empty() ? Shape{3, 224, 224} : parse_shape(o.input_size);
    if (o.weights != "none" && (!o.weights.empty() || o.pretrained))
      s.weights_path = o.weights.empty() ? find_weights(o.model) : o.weights;
    int64_t classes = 1000;  // Note [The head's size from the file]; a graft checkpoint rebuilds its own head
    if (!s.weights_path.empty() && std::filesystem::exists(s.weights_path)) {
      H5File f(s.weights_path, H5File::Mode::Read);
      if (!f.has_attr("graft_head") || f.attr_string("graft_head").empty())
        classes = classes_of_head_in_file(o.model, s.weights_path);
    }
    s.model = make_model(o.model, classes);
  } else if (is_spec(o.model)) {
    s.input_shape = parse_shape(o.input_size.empty() ? "3x224x224" : o.input_size);
    // 'n' in the spec is the data's class count; a command without data (predict, explain) takes
    // the count of class names the weights file keeps.
    if (num_classes < 0 && !o.weights.empty() && o.weights != "none" && std::filesystem::exists(o.weights)) {
      const size_t named = read_weights_info(o.weights).class_names.size();
      if (named > 0) num_classes = static_cast<int64_t>(named);
    }
    s.model = build_spec_model(o.model.substr(5), s.input_shape, "", num_classes).model;
    GRAFT_CHECK(!o.pretrained || !o.weights.empty(), "",
                "--pretrained needs --weights FILE for a spec model (there is no default file)");
    if (o.weights != "none") s.weights_path = o.weights;
  } else {
    GRAFT_FAIL("", "unknown --model '", o.model, "': expected one of ", join(model_names(), ", "),
               ", or spec:<layers> (e.g. 'spec:conv(8,3) relu maxpool(2) flatten linear(n)')");
  }

  if (!s.weights_path.empty()) {
    GRAFT_CHECK_DATA(std::filesystem::exists(s.weights_path), "", "weights file '", s.weights_path,
                     "' does not exist; pass --weights FILE, or --weights none to start from random weights");
    WeightsInfo info = read_weights_info(s.weights_path);
    H5File f(s.weights_path, H5File::Mode::Read);
    // A graft model checkpoint used as weights: rebuild its head before loading.
    if (f.has_attr("graft_head") && !f.attr_string("graft_head").empty()) {
      const int64_t n = static_cast<int64_t>(info.class_names.size());
      s.replaced = f.attr_string("graft_replace");
      s.head_spec = f.attr_string("graft_head");
      rebuild_head(*s.model, s.replaced, s.head_spec, n, s.weights_path);
    }
    say_dropped_prefix(load_weights(*s.model, s.weights_path, /*strict=*/true), s.weights_path);
    s.weights_class_names = info.class_names;
    preprocess = info.preprocess;
    s.mean = info.mean, s.std = info.std;
  }
  set_transforms(s, preprocess);
  if (o.model_from_weights) {  // the file's own eval transform (a spec model's default is a plain resize)
    H5File f(s.weights_path, H5File::Mode::Read);
    if (f.has_attr("graft_eval_transform") && !f.attr_string("graft_eval_transform").empty())
      s.eval_transform = f.attr_string("graft_eval_transform");
  }

  if (!o.head.empty()) {
    s.replaced = o.replace.empty() ? default_head_name(s) : o.replace;
    GRAFT_CHECK(s.model->has(s.replaced), "--replace", "the model has no module '", s.replaced,
                "'; see `graft summary --model ", o.model, "` for the names");
    replace_with_head(*s.model, s.replaced, o.head, num_classes);
    s.head_spec = o.head;
  } else if (!o.replace.empty()) {
    GRAFT_FAIL("", "--replace ", o.replace, " needs --head SPEC (what to put in its place)");
  } else if (s.replaced.empty()) {
    s.replaced = default_head_name(s);
  }
  s.frozen_note.push_back(apply_freeze(s, o.freeze));
  s.model->to(s.device);
  return s;
}

// ---- model checkpoints ------------------------------------------------------------------------

WeightsInfo checkpoint_weights_info(const ModelSetup& s, const std::vector<std::string>& class_names,
                                    const std::string& eval_transform) {
  WeightsInfo info;
  info.architecture = s.is_pretrained_arch() ? s.model_name : std::string("other");
  info.class_names = class_names;
  info.preprocess = eval_transform;
  info.mean = s.mean, info.std = s.std;
  info.source = "graft train";
  return info;
}

std::function<void(H5File&)> checkpoint_description(const ModelSetup& s, const std::string& eval_transform,
                                                    const std::string& loss) {
  return [=](H5File& f) {
    f.set_attr("graft_model", s.model_name);
    f.set_attr("graft_head", s.head_spec);
    f.set_attr("graft_replace", s.replaced);
    f.set_attr("graft_input", shape_text(s.input_shape));
    f.set_attr("graft_eval_transform", eval_transform);
    f.set_attr("graft_loss", loss);
  };
}

void save_model_checkpoint(const std::string& path, const ModelSetup& s, const std::vector<std::string>& class_names,
                           const std::string& eval_transform, const std::string& loss) {
  save_weights(*s.model, path, checkpoint_weights_info(s, class_names, eval_transform),
               WeightsExtras{{}, checkpoint_description(s, eval_transform, loss)});
}

CheckpointInfo read_model_checkpoint_info(const std::string& path) {
  GRAFT_CHECK_DATA(std::filesystem::exists(path), "", "checkpoint '", path,
                   "' does not exist (graft train writes <out>/best.h5)");
  H5File f(path, H5File::Mode::Read);
  GRAFT_CHECK_DATA(f.has_attr("graft_model"), "", "'", path,
                   "' is not a graft model checkpoint (no graft_model attribute): pass the best.h5 written by "
                   "`graft train`, or use --model/--weights for a plain weights file");
  CheckpointInfo c;
  c.model_name = f.attr_string("graft_model");
  c.head_spec = f.attr_string("graft_head");
  c.replaced = f.attr_string("graft_replace");
  c.input = f.attr_string("graft_input");
  c.eval_transform = f.attr_string("graft_eval_transform");
  c.loss = f.attr_string("graft_loss");
  c.architecture = f.attr_string("architecture");
  c.class_names = f.attr_strings("class_names");
  if (f.has_attr("mean")) c.mean = f.attr_numbers("mean");
  if (f.has_attr("std")) c.std = f.attr_numbers("std");
  return c;
}

ModelSetup load_model_checkpoint(const std::string& path, const std::string& device, CheckpointInfo* info_out,
                                 const std::string& expected_model) {
  CheckpointInfo c = read_model_checkpoint_info(path);
  GRAFT_CHECK_DATA(expected_model.empty() || expected_model == c.model_name, "", "checkpoint '", path,
                   "' was saved from a '", c.model_name, "' model, but --model is '", expected_model,
                   "'; drop --model (the checkpoint knows its model) or pass the right checkpoint");
  const int64_t n = static_cast<int64_t>(c.class_names.size());
  ModelSetup s;
  s.model_name = c.model_name;
  s.head_spec = c.head_spec;
  s.replaced = c.replaced;
  s.input_shape = parse_shape(c.input, path + ": attribute graft_input");
  s.device = parse_device(device);
  check_device(s.device);
  if (c.model_name == "head") {
    s.model = head_as_saved(build_head(c.head_spec, s.input_shape[0], n), "", path);
  } else {
    if (is_arch(c.model_name))  // Note [The head's size from the file]
      s.model = make_model(c.model_name, c.head_spec.empty() ? classes_of_head_in_file(c.model_name, path) : 1000);
    else if (is_spec(c.model_name)) s.model = build_spec_model(c.model_name.substr(5), s.input_shape, "", n).model;
    else GRAFT_FAIL_DATA("", path, ": unknown graft_model '", c.model_name, "'");
    if (!c.head_spec.empty()) rebuild_head(*s.model, c.replaced, c.head_spec, n, path);
  }
  say_dropped_prefix(load_weights(*s.model, path, /*strict=*/true), path);
  s.weights_path = path;
  s.weights_class_names = c.class_names;
  s.eval_transform = c.eval_transform;
  s.mean = c.mean, s.std = c.std;
  s.model->to(s.device);
  if (info_out) *info_out = c;
  return s;
}

ModelSetup model_from_options(const Args& a, const std::string& command) {
  if (a.given("checkpoint")) return load_model_checkpoint(a.get("checkpoint"), a.get("device"), nullptr, a.get("model"));
  ModelOptions o = model_options(a);
  if (o.model.empty())
    throw ArgError(command + ": give --checkpoint FILE (from graft train), or --model with --weights");
  return build_model(o, -1);
}

}  // namespace graft::tools
