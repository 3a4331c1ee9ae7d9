// src/layers/sequential.cpp — see sequential.h.
#include "layers/sequential.h"

namespace graft {

Sequential::Sequential(std::initializer_list<ModulePtr> modules) : Module("Sequential") {
  for (auto& m : modules) add(m);
}

Sequential::Sequential(const NamedModules& named) : Module("Sequential") {
  for (auto& [n, m] : named) add(n, m);
}

Sequential& Sequential::add(ModulePtr m) { return add(std::to_string(children().size()), std::move(m)); }

Sequential& Sequential::add(const std::string& name, ModulePtr m) {
  register_module(name, std::move(m));
  return *this;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& [name, m] : children()) h = (*m)(h);  // through each child's hooks
  return h;
}

}  // namespace graft
