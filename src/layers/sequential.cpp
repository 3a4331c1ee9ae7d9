// src/layers/sequential.cpp — see sequential.h.
#include "layers/sequential.h"

#include "layers/conv_bn.h"

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

// Each child in turn through its hooks, except that Conv2d [BatchNorm2d] [ReLU], Linear ReLU and
// BatchNorm2d ReLU run as one fused op when they may (layers/conv_bn.h).
Tensor Sequential::forward(const Tensor& x) { return sequential_forward(children(), x); }

}  // namespace graft
