// src/layers/sequential.h — modules applied one after another, named "0", "1", ... as in
// nn.Sequential, or with explicit names as nn.Sequential(OrderedDict(...)).
//
// Shapes: forward(x) passes x through the children in registration order; the input must fit
// the first child and the output has the last child's output shape (for example Conv2d ->
// BatchNorm2d -> ReLU maps [N,C,H,W] to [N,K,P,Q]). The child names become the middle parts of
// the parameter names: "features.0.weight", "layer1.1.bn2.running_var".
#pragma once

#include <initializer_list>

#include "layers/module.h"

namespace graft {

class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  Sequential(std::initializer_list<ModulePtr> modules);
  explicit Sequential(const NamedModules& named);
  // Appends under the next index ("0", "1", ...) or under `name`.
  Sequential& add(ModulePtr m);
  Sequential& add(const std::string& name, ModulePtr m);
  size_t size() const { return children().size(); }
  ModulePtr operator[](size_t i) const { return children().at(i).second; }

 protected:
  Tensor forward(const Tensor& x) override;
};

}  // namespace graft
