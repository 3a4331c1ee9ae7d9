// tools/cmd_summary.cpp — `graft summary`: the module table of a model as it would be trained.
//
// Builds the model exactly as `graft train` would (architecture or text spec, optional new
// head, optional freezing), runs one forward pass on a zero input of the chosen size to record
// every leaf module's output shape, and prints name, type, output shape, parameters and
// trainable parameters, then the totals (src/models/summary.h). No weights are needed: counts
// and shapes do not depend on them.
//
//   graft summary --model vgg16 --num-classes 100 --freeze backbone
//       --head "linear(256) relu dropout(0.4) linear(n) logsoftmax"
//   ... total 135,335,076 parameters, 1,074,532 trainable, 134,260,544 frozen
#include <cstdio>
#include <stdexcept>
#include <string>

#include "args.h"
#include "commands.h"
#include "layers/sequential.h"
#include "models/models.h"
#include "models/summary.h"
#include "spec.h"

namespace graft {
namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

int cmd_summary(const std::vector<std::string>& words) {
  tools::ArgParser parser("graft summary",
                          "Print the module table of a model: every leaf module's output shape, parameters and\n"
                          "trainable parameters, then the totals. The model is built as `graft train` builds it\n"
                          "(architecture or spec, new head, freezing); no weights file is needed.");
  parser.add_string("model", "", "vgg16, resnet18, densenet121, or spec:\"conv(8,5) relu ...\" (a small CNN)", true)
      .add_int("num-classes", 1000, "number of classes (what `n` stands for in --head and in a spec)")
      .add_string("head", "", "replace the classifier by this head spec, e.g. \"linear(256) relu dropout(0.4) linear(n) logsoftmax\"")
      .add_string("replace", "",
                  "module the head replaces (default: classifier.6 for vgg16, fc for resnet18, classifier for "
                  "densenet121, the last layer of a spec)")
      .add_string("freeze", "none",
                  "none | backbone (all but the head) | all | all-but-last:N (all but the last N modules with "
                  "parameters) | prefix:A,B (parameters whose names start with A or B)")
      .add_string("input-size", "3x224x224", "one input sample CxHxW for the forward pass that records output shapes "
                                             "(a single number N means 3xNxN)")
      .add_string("prefix", "", "spec models: parameter name prefix (\"main\" gives main.0.weight)")
      .add_example("graft summary --model resnet18", "torchvision's ResNet18, 11,689,512 parameters")
      .add_example("graft summary --model vgg16 --head \"linear(256) relu dropout(0.4) linear(n) logsoftmax\" "
                   "--num-classes 100 --freeze backbone",
                   "VGG16 with a new head, backbone frozen: 1,074,532 trainable")
      .add_example("graft summary --model \"spec:conv(8,5) relu maxpool(2) flatten linear(n)\" "
                   "--input-size 1x28x28 --num-classes 10",
                   "a small CNN for 28x28 grey images");
  tools::Args args = parser.parse(words);
  if (args.help()) {
    std::fputs(parser.help().c_str(), stdout);
    return 0;
  }
  const std::string model_arg = args.get("model"), head = args.get("head"), freeze = args.get("freeze");
  const int64_t n = args.get_int("num-classes");
  if (n < 1) throw tools::ArgError("graft summary: --num-classes must be at least 1, got " + std::to_string(n));
  std::vector<int64_t> dims;
  {
    const std::string t = args.get("input-size");
    size_t start = 0;
    while (start <= t.size()) {
      size_t end = t.find('x', start);
      if (end == std::string::npos) end = t.size();
      try {
        size_t used = 0;
        dims.push_back(std::stoll(t.substr(start, end - start), &used));
        if (used != end - start || dims.back() < 1) throw std::invalid_argument(t);
      } catch (const std::exception&) {
        throw tools::ArgError("graft summary: --input-size expects CxHxW (e.g. 3x224x224) or N, got '" + t + "'");
      }
      start = end + 1;
    }
    if (dims.size() == 1) dims = {3, dims[0], dims[0]};
    if (dims.size() != 3)
      throw tools::ArgError("graft summary: --input-size expects CxHxW (e.g. 3x224x224) or N, got '" + t + "'");
  }
  const int64_t channels = dims[0];

  // ---- build ----------------------------------------------------------------------------------
  ModulePtr model;
  std::string head_module = args.get("replace");
  const bool is_spec = model_arg.rfind("spec:", 0) == 0;
  if (is_spec) {
    tools::SpecModel sm = tools::build_spec_model(model_arg.substr(5), {dims[0], dims[1], dims[2]}, args.get("prefix"), n);
    model = sm.model;
    if (head_module.empty()) {  // the last layer that owns parameters
      const std::string pre = args.get("prefix").empty() ? "" : args.get("prefix") + ".";
      for (size_t i = 0; i < sm.body->children().size(); ++i)
        if (sm.body->children()[i].second->num_parameters() > 0) head_module = pre + sm.body->children()[i].first;
      if (head_module.empty() && (!head.empty() || freeze == "backbone"))
        throw tools::ArgError("graft summary: the spec has no layer with parameters to replace; pass --replace NAME");
    }
  } else {
    if (channels != 3)
      throw tools::ArgError("graft summary: " + model_arg + " takes 3 input channels, got --input-size " +
                            args.get("input-size"));
    model = make_model(model_arg, n);  // throws listing the names it knows
    if (head_module.empty()) head_module = head_name(model_arg);
  }
  if (!head.empty()) tools::replace_with_head(*model, head_module, head, n);

  // ---- freeze ---------------------------------------------------------------------------------
  if (freeze == "backbone") {
    std::vector<std::string> prefixes;
    for (auto& [name, m] : model->children())
      if (name != head_module && head_module.rfind(name + ".", 0) != 0) prefixes.push_back(name);
    // the head may sit inside a child (vgg16: classifier.6): freeze that child's other modules
    const size_t dot = head_module.find('.');
    if (dot != std::string::npos) {
      const std::string parent = head_module.substr(0, head_module.rfind('.'));
      for (auto& [name, m] : model->get(parent)->children())
        if (parent + "." + name != head_module && m->num_parameters() > 0) prefixes.push_back(parent + "." + name);
    }
    std::vector<std::string> with_params;
    for (const std::string& p : prefixes)
      if (model->get(p)->num_parameters() > 0) with_params.push_back(p);
    if (!with_params.empty()) freeze_prefixes(*model, with_params);
  } else if (freeze == "all") {
    model->freeze();
  } else if (freeze.rfind("all-but-last:", 0) == 0) {
    int64_t k = 0;
    try {
      k = std::stoll(freeze.substr(13));
    } catch (const std::exception&) {
      throw tools::ArgError("graft summary: --freeze all-but-last:N expects a number, got '" + freeze + "'");
    }
    freeze_all_but_last(*model, k);
  } else if (freeze.rfind("prefix:", 0) == 0) {
    freeze_prefixes(*model, split_commas(freeze.substr(7)));  // throws naming a prefix that matches nothing
  } else if (freeze != "none") {
    throw tools::ArgError("graft summary: --freeze expects none, backbone, all, all-but-last:N or prefix:A,B; got '" +
                          freeze + "'");
  }

  // ---- print ----------------------------------------------------------------------------------
  std::printf("%s: %s%s, input [1, %lld, %lld, %lld]\n", model_arg.c_str(), head.empty() ? "" : "head ",
              head.empty() ? "original head" : ("'" + head + "' at " + head_module).c_str(),
              static_cast<long long>(dims[0]), static_cast<long long>(dims[1]), static_cast<long long>(dims[2]));
  ModelSummary s = summarize(*model, {1, dims[0], dims[1], dims[2]});
  std::fputs(s.str().c_str(), stdout);
  return 0;
}

}  // namespace graft
