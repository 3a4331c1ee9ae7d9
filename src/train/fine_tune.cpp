// src/train/fine_tune.cpp — layer groups, discriminative lrs and the phases' one-cycle options
// of fastai's fine_tune (see fine_tune.h).
#include "train/fine_tune.h"

#include <cmath>
#include <sstream>

#include "tensor/check.h"

namespace graft {

FineTuneOptions parse_fine_tune(const std::string& text) {
  FineTuneOptions o;
  std::vector<double> v;
  std::stringstream ss(text);
  for (std::string part; std::getline(ss, part, ',');) {
    try {
      size_t used = 0;
      v.push_back(std::stod(part, &used));
      GRAFT_CHECK_DATA(used == part.size(), "", "");
    } catch (const std::exception&) {
      v.clear();
      break;
    }
  }
  GRAFT_CHECK_DATA((v.size() == 2 || v.size() == 3) && v[0] >= 1 && v[1] >= 1 && v[0] == std::floor(v[0]) &&
                       v[1] == std::floor(v[1]) && (v.size() == 2 || v[2] >= 1),
                   "--fine-tune", "expects E1,E2[,LR_MULT]: the epochs with the backbone frozen (>= 1), the epochs "
                   "after unfreezing (>= 1) and optionally the head's lr over the first layer group's (>= 1, default "
                   "100), e.g. 1,4 or 2,8,10; got '", text, "'");
  o.frozen_epochs = static_cast<int64_t>(v[0]);
  o.epochs = static_cast<int64_t>(v[1]);
  if (v.size() == 3) o.lr_mult = v[2];
  return o;
}

namespace {

bool under(const std::string& name, const std::string& module) {
  return name == module || (name.size() > module.size() && name.compare(0, module.size(), module) == 0 &&
                            name[module.size()] == '.');
}

std::vector<LayerGroup> group_table(const std::string& model_name, const std::string& head) {
  auto range = [](const std::string& prefix, int from, int to) {
    std::vector<std::string> v;
    for (int i = from; i <= to; ++i) v.push_back(prefix + std::to_string(i));
    return v;
  };
  std::vector<LayerGroup> g;
  auto add = [&](const std::string& name, std::vector<std::string> modules) {
    LayerGroup x;
    x.name = name;
    x.modules = std::move(modules);
    g.push_back(std::move(x));
  };
  if (model_name == "resnet18") {
    add("conv1 bn1 layer1 layer2", {"conv1", "bn1", "layer1", "layer2"});
    add("layer3 layer4", {"layer3", "layer4"});
  } else if (model_name == "vgg16") {
    add("features.0-16 (conv blocks 1-3)", range("features.", 0, 16));
    add("the rest: features.17-30 (conv blocks 4-5), classifier before the head", {});
  } else if (model_name == "densenet121") {
    add("features.conv0 norm0 denseblock1 transition1 denseblock2",
                 {"features.conv0", "features.norm0", "features.denseblock1", "features.transition1",
                  "features.denseblock2"});
    add("the rest: transition2 denseblock3 transition3 denseblock4 norm5", {});
  } else {
    add("the body (every layer but the head)", {});
  }
  add("head (" + head + ")", {head});
  return g;
}

}  // namespace

std::vector<LayerGroup> fine_tune_groups(const Module& model, const std::string& model_name, const std::string& head) {
  GRAFT_CHECK_DATA(!head.empty(), "--fine-tune", "needs a head (the new layers that train alone in phase 1): give --head");
  std::vector<LayerGroup> g = group_table(model_name, head);
  int rest = -1;
  for (size_t i = 0; i < g.size(); ++i)
    if (g[i].modules.empty()) rest = static_cast<int>(i);
  for (const auto& [name, t] : model.named_parameters()) {
    int found = -1;
    for (size_t i = 0; i < g.size() && found < 0; ++i)
      for (const std::string& m : g[i].modules)
        if (under(name, m)) found = static_cast<int>(i);
    if (found < 0) found = rest;
    GRAFT_CHECK(found >= 0, "fine_tune_groups", "parameter '", name, "' of ", model_name,
                " is in no layer group (train/fine_tune.h's table)");
    g[found].params.push_back(t);
    g[found].numel += t.numel();
  }
  for (const LayerGroup& x : g)
    GRAFT_CHECK(!x.params.empty(), "fine_tune_groups", "layer group '", x.name, "' of ", model_name,
                " has no parameters (is '", head, "' the head?)");
  return g;
}

std::vector<double> even_mults(double start, double stop, int64_t n) {
  GRAFT_CHECK(n >= 1 && start > 0 && stop > 0, "even_mults", "needs n >= 1 and positive ends, got ", n, ", ", start,
              ", ", stop);
  if (n == 1) return {stop};
  const double step = std::pow(stop / start, 1.0 / static_cast<double>(n - 1));
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(start * std::pow(step, static_cast<double>(i)));
  return v;
}

std::vector<double> fine_tune_lrs(const FineTuneOptions& o, int64_t groups) {
  const double lr = o.base_lr / 2;  // fastai halves base_lr before unfreezing
  return even_mults(lr / o.lr_mult, lr, groups);
}

OneCycleLR::Options fine_tune_one_cycle(int phase, int64_t total_steps) {
  GRAFT_CHECK(phase == 1 || phase == 2, "fine_tune_one_cycle", "phase is 1 or 2, got ", phase);
  OneCycleLR::Options o;
  o.total_steps = total_steps;
  o.pct_start = phase == 1 ? 0.99 : 0.3;
  o.div_factor = phase == 1 ? 25 : 5;
  o.final_div_factor = 1e5 / o.div_factor;  // last lr = max_lr / 1e5, fastai's div_final
  o.base_momentum = 0.85;
  o.max_momentum = 0.95;
  return o;
}

void fine_tune_freeze(Module& model, int phase, const std::string& head) {
  GRAFT_CHECK(phase == 1 || phase == 2, "fine_tune_freeze", "phase is 1 or 2, got ", phase);
  if (phase == 2) {
    model.unfreeze();
    return;
  }
  model.freeze();
  model.get(head)->unfreeze();
}

}  // namespace graft
