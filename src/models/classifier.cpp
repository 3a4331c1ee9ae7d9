// src/models/classifier.cpp — see classifier.h.
#include "models/classifier.h"

#include <stdexcept>

#include "layers/sequential.h"

namespace graft {

namespace {
thread_local ShapeTrace* active_trace = nullptr;
}

ShapeTrace::ShapeTrace() {
  if (active_trace) throw std::logic_error("ShapeTrace: a trace is already active on this thread");
  active_trace = this;
}
ShapeTrace::~ShapeTrace() { active_trace = nullptr; }

Tensor call(Module& m, const Tensor& x) {
  if (!active_trace) return m.forward(x);
  Tensor y;
  if (auto* seq = dynamic_cast<Sequential*>(&m)) {  // Sequential::forward, one traced child at a time
    y = x;
    for (auto& [name, child] : seq->children()) y = call(*child, y);
  } else {
    y = m.forward(x);
  }
  active_trace->shapes[&m] = y.shape();
  return y;
}

Tensor run_child(const Module& parent, const std::string& name, const Tensor& x) {
  for (auto& [n, child] : parent.children())
    if (n == name) return call(*child, x);
  return call(*parent.get(name), x);  // get() throws with the list of children
}

void eval_frozen_batchnorm(Module& m) {
  for (auto& [name, child] : m.named_modules()) {
    if (child->type() != "BatchNorm2d") continue;
    bool frozen = true;
    for (auto& [pname, p] : child->named_parameters()) frozen = frozen && !p.requires_grad();
    if (frozen) child->eval();
  }
}

void ImageClassifier::train(bool on) {
  Module::train(on);
  if (on && frozen_bn_eval) eval_frozen_batchnorm(*this);
}

}  // namespace graft
