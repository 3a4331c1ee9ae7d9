// src/models/classifier.h — what the three model files share: the ImageClassifier base class
// and run_child(), the way a model calls its sub-modules.
//
// run_child(parent, "fc", x) looks the child up by name at every call (a scan of a handful
// of names, nothing next to a convolution) instead of holding a C++ pointer to it. So a head
// swapped with Module::replace("fc", ...) is the one that runs — the same late binding that
// torchvision gets from `self.fc = nn.Linear(...)`.
//
// Shape tracing (for summary.h): while a ShapeTrace is alive on this thread, every module run
// through run_child() or call() records its output shape. call() on a Sequential runs its
// children one by one through call() (exactly what Sequential::forward does), so leaves
// inside Sequentials are traced too.
#pragma once

#include <map>
#include <string>

#include "layers/module.h"

namespace graft {

// x: the module's input -> its output (m.forward(x)), recording the shape when tracing.
Tensor call(Module& m, const Tensor& x);
// parent's child `name` applied to x; throws naming the parent's children if absent.
Tensor run_child(const Module& parent, const std::string& name, const Tensor& x);

// Records module -> output shape for the modules run on this thread while it is alive.
class ShapeTrace {
 public:
  ShapeTrace();
  ~ShapeTrace();
  ShapeTrace(const ShapeTrace&) = delete;
  ShapeTrace& operator=(const ShapeTrace&) = delete;
  std::map<const Module*, Shape> shapes;
};

// A model built by make_model(): remembers its architecture name ("vgg16") for weight files,
// and can keep the batch norm layers of frozen parts in eval mode.
class ImageClassifier : public Module {
 public:
  ImageClassifier(std::string type_name, std::string arch) : Module(std::move(type_name)), arch_(std::move(arch)) {}
  const std::string& arch() const { return arch_; }

  // train(true) as nn.Module.train, except that when frozen_bn_eval is on, every BatchNorm2d
  // whose parameters are all frozen (requires_grad false) goes to eval mode: it normalizes
  // with its running statistics and leaves them unchanged (the usual fine-tuning choice; note
  // PyTorch's own train() would keep updating them).
  void train(bool on = true) override;
  bool frozen_bn_eval = true;

 private:
  std::string arch_;
};

// Puts every BatchNorm2d below `m` whose parameters are all frozen in eval mode.
void eval_frozen_batchnorm(Module& m);

}  // namespace graft
