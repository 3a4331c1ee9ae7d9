// src/models/summary.cpp — see summary.h.
#include "models/summary.h"

#include <cstdio>
#include <map>

#include "autograd/engine.h"

namespace graft {

namespace {
std::string thousands(int64_t v) {
  std::string s = std::to_string(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}
}  // namespace

ModelSummary summarize(Module& model, const Shape& input_shape) {
  ModelSummary s;
  const NamedModules modules = model.named_modules();
  std::map<const Module*, Shape> shapes;  // what each module returned in the forward pass
  if (!input_shape.empty()) {
    std::vector<bool> was_training;  // restore per module: parts may be in eval mode
    for (auto& [n, m] : modules) was_training.push_back(m->is_training());
    const bool root_training = model.is_training();
    model.eval();
    {
      NoGradGuard no_grad;
      HookHandle trace = add_global_forward_hook([&](Module& m, const std::vector<Tensor>&, const Tensor& y) {
        shapes[&m] = y.shape();
        return Tensor();
      });
      Device device = Device::CPU;
      for (auto& [n, p] : model.named_parameters()) device = p.device();
      model(Tensor::zeros(input_shape, DType::Float32, device));
    }
    model.train(root_training);
    for (size_t i = 0; i < modules.size(); ++i) modules[i].second->train(was_training[i]);
  }
  for (auto& [name, m] : modules) {
    if (!m->children().empty()) continue;
    SummaryRow r{name, m->type(), {}, m->num_parameters(), m->num_parameters(true)};
    if (auto it = shapes.find(m.get()); it != shapes.end()) r.output = it->second;
    s.rows.push_back(r);
  }
  s.total_params = model.num_parameters();
  s.trainable_params = model.num_parameters(true);
  return s;
}

std::string ModelSummary::str() const {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-44s %-18s %-20s %12s %12s\n", "name", "type", "output shape", "params", "trainable");
  out += line;
  for (const auto& r : rows) {
    std::snprintf(line, sizeof line, "%-44s %-18s %-20s %12s %12s\n", r.name.c_str(), r.type.c_str(),
                  r.output.empty() ? "-" : shape_str(r.output).c_str(), thousands(r.params).c_str(),
                  thousands(r.trainable).c_str());
    out += line;
  }
  out += "total " + thousands(total_params) + " parameters, " + thousands(trainable_params) + " trainable, " +
         thousands(total_params - trainable_params) + " frozen\n";
  return out;
}

}  // namespace graft
