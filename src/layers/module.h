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
// Calling a module: module(x) is the one way to run it. It calls the module's forward(), then
// its forward hooks and this thread's global hooks (summary, tracing, Grad-CAM read or replace
// the output there). forward() is protected, so nothing can run a module past its hooks:
// Sequential runs its children with child(x), and a model calls its typed children the same
// way (Child<M> below).
//
// Typed children: `Child<Conv2d> conv1 = register_module("conv1", ...)` is a handle to a slot
// of the parent's child list, not a pointer to the module. Module::replace("fc", head) swaps
// what is in the slot, so the model's forward runs the new head, as `model.fc = nn.Linear(...)`
// does in PyTorch, and no child is looked up by name while the model runs.
//
// Shapes: forward(x) takes and returns what each module's header states (e.g. Conv2d
// [N,C,H,W] -> [N,K,P,Q]); parameters and buffers keep PyTorch's shapes (Linear weight
// [out,in], Conv2d weight [K,C,R,S], batch norm statistics [C]), which load_state_dict checks.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "tensor/hdf5_io.h"
#include "tensor/tensor.h"

namespace graft {

class Module;
using ModulePtr = std::shared_ptr<Module>;
using NamedModules = std::vector<std::pair<std::string, ModulePtr>>;

// Runs after a module's forward with its inputs and output; returns the output to use (an
// undefined Tensor keeps it), as PyTorch's register_forward_hook.
using ForwardHook = std::function<Tensor(Module& module, const std::vector<Tensor>& inputs, const Tensor& output)>;

// Removes its hook when it goes out of scope (PyTorch's RemovableHandle). Movable.
class HookHandle {
 public:
  HookHandle() = default;
  explicit HookHandle(std::function<void()> remove) : remove_(std::move(remove)) {}
  HookHandle(HookHandle&& other) noexcept : remove_(std::move(other.remove_)) { other.remove_ = nullptr; }
  HookHandle& operator=(HookHandle&& other) noexcept;
  HookHandle(const HookHandle&) = delete;
  HookHandle& operator=(const HookHandle&) = delete;
  ~HookHandle() { remove(); }
  void remove();

 private:
  std::function<void()> remove_;
};

// A hook for every module call on this thread while the handle lives (summaries, tracing);
// remove it on the same thread.
HookHandle add_global_forward_hook(ForwardHook hook);
// Whether a global hook is set on this thread (fused layers then run module by module).
bool global_forward_hooks_active();

template <class M>
class Child;

// What load_state_dict found: keys in the file but not in the model, and keys of the model
// that the file lacked (only non-empty in non-strict mode; strict mode throws instead).
struct LoadReport {
  std::vector<std::string> unexpected;
  std::vector<std::string> missing;
  std::vector<std::string> mismatched;  // "key: file [..] vs model [..]", non-strict only
  std::string dropped_prefix;  // load_weights: "main." when the file's keys had it and the model's not
};

class Module {
 public:
  explicit Module(std::string type_name) : type_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // ---- running ---------------------------------------------------------------------------
  // forward(x), then the hooks (see the top of the file).
  Tensor operator()(const Tensor& x);
  // For modules that take several tensors (DenseNet's dense layer takes the list of features).
  Tensor operator()(const std::vector<Tensor>& inputs);

  HookHandle register_forward_hook(ForwardHook hook);
  // Whether this module has a hook of its own (fused layers, layers/conv_bn.h, skip modules with one).
  bool has_forward_hooks() const { return !hooks_->list.empty(); }

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
  // Puts `module` in the slot of `dotted_name`: typed children (Child<M>) follow it, the new
  // module takes this module's train/eval mode. Returns the module that was there.
  ModulePtr replace(const std::string& dotted_name, ModulePtr module);
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
  // The computation, called by operator(). A module of several inputs also overrides
  // forward_many (the default takes exactly one and calls forward).
  virtual Tensor forward(const Tensor& x) = 0;
  virtual Tensor forward_many(const std::vector<Tensor>& inputs);

  Tensor& register_parameter(const std::string& name, Tensor t);
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <class M>
  Child<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    return Child<M>(this, add_child(name, std::move(m)));
  }
  // The module in child slot i (what Child<M> reads).
  const ModulePtr& child_slot(size_t i) const { return children_[i].second; }

 private:
  template <class M>
  friend class Child;
  size_t add_child(const std::string& name, ModulePtr m);  // returns the slot
  Tensor run_hooks(const std::vector<Tensor>& inputs, Tensor output);
  void collect(const std::string& prefix, bool params, bool buffers, bool trainable_only, NamedTensors& out) const;

  std::string type_;
  bool training_ = true;
  NamedTensors params_;
  NamedTensors buffers_;
  NamedModules children_;
  // The hooks live apart from the module, so a HookHandle that outlives it does nothing.
  struct Hooks {
    std::vector<std::pair<int, ForwardHook>> list;
    int next_id = 0;
  };
  std::shared_ptr<Hooks> hooks_ = std::make_shared<Hooks>();
};

// A typed handle to a child slot (see the top of the file). `child(x)` runs whatever module is
// in the slot now, through its operator(); `child->weight` reads it as an M, and throws if the
// slot was given a module of another type with replace(). An empty Child (never registered)
// is false.
template <class M>
class Child {
 public:
  Child() = default;
  Child(Module* owner, size_t slot) : owner_(owner), slot_(slot) {}
  // A Child<Linear> is also a Child<Module> (a head that may be replaced by anything).
  template <class N>
    requires std::is_base_of_v<M, N>
  Child(const Child<N>& other) : owner_(other.owner_), slot_(other.slot_) {}

  explicit operator bool() const { return owner_ != nullptr; }
  Tensor operator()(const Tensor& x) const { return (*module())(x); }
  Tensor operator()(const std::vector<Tensor>& inputs) const { return (*module())(inputs); }
  M* operator->() const { return &typed(); }
  M& operator*() const { return typed(); }
  const ModulePtr& module() const { return owner_->child_slot(slot_); }
  std::shared_ptr<M> get() const { return std::dynamic_pointer_cast<M>(module()); }

 private:
  template <class N>
  friend class Child;
  M& typed() const;
  Module* owner_ = nullptr;
  size_t slot_ = 0;
};

[[noreturn]] void throw_child_type(const Module& owner, size_t slot, const char* wanted);

template <class M>
M& Child<M>::typed() const {
  M* m = dynamic_cast<M*>(module().get());
  if (!m) throw_child_type(*owner_, slot_, typeid(M).name());
  return *m;
}

// Joins "layer1" and "0" into "layer1.0"; an empty prefix leaves the name as it is.
std::string join_name(const std::string& prefix, const std::string& name);

}  // namespace graft
