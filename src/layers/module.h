// src/layers/module.h — the module tree: named parameters, buffers and sub-modules.
//
// A Module owns parameters (trainable tensors), buffers (state such as batch norm's running
// statistics) and child modules, each registered under a name. Walking the tree joins the
// names with dots, so a model written like torchvision's produces torchvision's state_dict
// keys verbatim: "features.0.weight", "layer1.0.downsample.1.running_var", "classifier.6.bias".
// Loading weights is then a name-to-name copy (load_state_dict).
//
// Order matters and follows PyTorch: a module's own parameters, then its own buffers, then its
// children in registration order, recursively.
//
// Shapes: forward(x) takes and returns what each module's header states (e.g. Conv2d
// [N,C,H,W] -> [N,K,P,Q]); parameters and buffers keep PyTorch's shapes (Linear weight
// [out,in], Conv2d weight [K,C,R,S], batch norm statistics [C]), which load_state_dict checks.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/hdf5_io.h"
#include "tensor/tensor.h"

namespace graft {

class Module;
using ModulePtr = std::shared_ptr<Module>;
using NamedModules = std::vector<std::pair<std::string, ModulePtr>>;

// What load_state_dict found: keys in the file but not in the model, and keys of the model
// that the file lacked (only non-empty in non-strict mode; strict mode throws instead).
struct LoadReport {
  std::vector<std::string> unexpected;
  std::vector<std::string> missing;
  std::vector<std::string> mismatched;  // "key: file [..] vs model [..]", non-strict only
};

class Module {
 public:
  explicit Module(std::string type_name) : type_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }

  // The class name as PyTorch prints it ("Conv2d"), and its arguments ("3, 64, kernel_size=3").
  const std::string& type() const { return type_; }
  virtual std::string extra_repr() const { return ""; }

  // ---- traversal (names are dotted paths from this module) --------------------------------
  NamedTensors named_parameters(bool trainable_only = false) const;
  std::vector<Tensor> parameters(bool trainable_only = false) const;
  NamedTensors named_buffers() const;
  NamedTensors state_dict() const;
  NamedModules named_modules() const;  // this module first (name ""), then all descendants
  const NamedModules& children() const { return children_; }
  int64_t num_parameters(bool trainable_only = false) const;

  // ---- weights ---------------------------------------------------------------------------
  // Copies tensors by name into this module's parameters and buffers. Strict: any missing,
  // unexpected or mis-shaped key throws, naming the key (and both shapes) and `source`.
  LoadReport load_state_dict(const NamedTensors& tensors, bool strict = true,
                             const std::string& source = "state dict");

  // ---- editing the tree ------------------------------------------------------------------
  ModulePtr get(const std::string& dotted_name) const;  // throws, listing the names that exist
  bool has(const std::string& dotted_name) const;
  void replace(const std::string& dotted_name, ModulePtr module);
  void set_requires_grad(bool on);  // on every parameter below
  void freeze() { set_requires_grad(false); }
  void unfreeze() { set_requires_grad(true); }

  // ---- mode and device -------------------------------------------------------------------
  virtual void train(bool on = true);  // recursive, as nn.Module.train
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Moves parameters and buffers in place: the Tensor handles (held by optimizers) stay valid.
  void to(Device device);

 protected:
  Tensor& register_parameter(const std::string& name, Tensor t);
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }

 private:
  void add_child(const std::string& name, ModulePtr m);
  void collect(const std::string& prefix, bool params, bool buffers, bool trainable_only, NamedTensors& out) const;

  std::string type_;
  bool training_ = true;
  NamedTensors params_;
  NamedTensors buffers_;
  NamedModules children_;
};

// Joins "layer1" and "0" into "layer1.0"; an empty prefix leaves the name as it is.
std::string join_name(const std::string& prefix, const std::string& name);

}  // namespace graft
