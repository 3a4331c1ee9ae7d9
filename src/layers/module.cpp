// src/layers/module.cpp — see module.h.
#include "layers/module.h"

#include <cxxabi.h>

#include <cstdlib>
#include <functional>
#include <cmath>
#include <map>
#include <set>

#include "autograd/engine.h"
#include "tensor/check.h"

namespace graft {

// ---- calling a module, and its hooks ---------------------------------------------------------

namespace {
struct GlobalHooks {
  std::vector<std::pair<int, ForwardHook>> list;
  int next_id = 0;
};
thread_local GlobalHooks g_global_hooks;
}  // namespace

HookHandle& HookHandle::operator=(HookHandle&& other) noexcept {
  if (this != &other) {
    remove();
    remove_ = std::move(other.remove_);
    other.remove_ = nullptr;
  }
  return *this;
}

void HookHandle::remove() {
  if (remove_) remove_();
  remove_ = nullptr;
}

HookHandle add_global_forward_hook(ForwardHook hook) {
  const int id = g_global_hooks.next_id++;
  g_global_hooks.list.emplace_back(id, std::move(hook));
  return HookHandle([id] {
    auto& list = g_global_hooks.list;
    for (auto it = list.begin(); it != list.end(); ++it)
      if (it->first == id) {
        list.erase(it);
        return;
      }
  });
}

bool global_forward_hooks_active() { return !g_global_hooks.list.empty(); }

HookHandle Module::register_forward_hook(ForwardHook hook) {
  const int id = hooks_->next_id++;
  hooks_->list.emplace_back(id, std::move(hook));
  return HookHandle([weak = std::weak_ptr<Hooks>(hooks_), id] {
    if (auto hooks = weak.lock())
      for (auto it = hooks->list.begin(); it != hooks->list.end(); ++it)
        if (it->first == id) {
          hooks->list.erase(it);
          return;
        }
  });
}

Tensor Module::operator()(const Tensor& x) {
  Tensor y = forward(x);
  if (hooks_->list.empty() && g_global_hooks.list.empty()) return y;  // the common case: no hooks
  return run_hooks({x}, std::move(y));
}

Tensor Module::operator()(const std::vector<Tensor>& inputs) {
  Tensor y = forward_many(inputs);
  if (hooks_->list.empty() && g_global_hooks.list.empty()) return y;
  return run_hooks(inputs, std::move(y));
}

Tensor Module::forward_many(const std::vector<Tensor>& inputs) {
  GRAFT_CHECK(inputs.size() == 1, type_, "takes one tensor, got ", inputs.size());
  return forward(inputs[0]);
}

// The module's own hooks in registration order, then the global ones. Copies of the lists: a
// hook may remove itself.
Tensor Module::run_hooks(const std::vector<Tensor>& inputs, Tensor output) {
  const auto own = hooks_->list;
  for (const auto& [id, hook] : own)
    if (Tensor replaced = hook(*this, inputs, output); replaced.defined()) output = std::move(replaced);
  const auto global = g_global_hooks.list;
  for (const auto& [id, hook] : global)
    if (Tensor replaced = hook(*this, inputs, output); replaced.defined()) output = std::move(replaced);
  return output;
}

void throw_child_type(const Module& owner, size_t slot, const char* wanted) {
  int status = 0;
  char* name = abi::__cxa_demangle(wanted, nullptr, nullptr, &status);
  const std::string wanted_name = status == 0 && name ? name : wanted;
  std::free(name);
  const auto& [child_name, child] = owner.children().at(slot);
  GRAFT_FAIL_DATA(owner.type(), "child '", child_name, "' is now a ", child->type(), ", but the model uses it as a ",
                  wanted_name, "; replace() it with a module of that type");
}

std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

Tensor& Module::register_parameter(const std::string& name, Tensor t) {
  t.set_requires_grad(true);
  params_.emplace_back(name, std::move(t));
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  buffers_.emplace_back(name, std::move(t));
  return buffers_.back().second;
}

size_t Module::add_child(const std::string& name, ModulePtr m) {
  GRAFT_CHECK(m, "register_module", "module '", name, "' is null");
  for (auto& [n, c] : children_) GRAFT_CHECK(n != name, "register_module", "'", name, "' is registered twice");
  children_.emplace_back(name, std::move(m));
  return children_.size() - 1;
}

void Module::collect(const std::string& prefix, bool params, bool buffers, bool trainable_only,
                     NamedTensors& out) const {
  if (params)
    for (const auto& [n, t] : params_)
      if (!trainable_only || t.requires_grad()) out.emplace_back(join_name(prefix, n), t);
  if (buffers)
    for (const auto& [n, t] : buffers_) out.emplace_back(join_name(prefix, n), t);
  for (const auto& [n, c] : children_) c->collect(join_name(prefix, n), params, buffers, trainable_only, out);
}

NamedTensors Module::named_parameters(bool trainable_only) const {
  NamedTensors out;
  collect("", true, false, trainable_only, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool trainable_only) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters(trainable_only)) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, true, false, out);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", true, true, false, out);
  return out;
}

NamedModules Module::named_modules() const {
  NamedModules out;
  // The root has no shared_ptr to itself here; callers that need it hold one already.
  std::function<void(const std::string&, const Module&)> walk = [&](const std::string& prefix, const Module& m) {
    for (const auto& [n, c] : m.children_) {
      std::string name = join_name(prefix, n);
      out.emplace_back(name, c);
      walk(name, *c);
    }
  };
  walk("", *this);
  return out;
}

int64_t Module::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (auto& [name, t] : named_parameters(trainable_only)) n += t.numel();
  return n;
}

LoadReport Module::load_state_dict(const NamedTensors& tensors, bool strict, const std::string& source) {
  LoadReport report;
  std::map<std::string, Tensor> given(tensors.begin(), tensors.end());
  NamedTensors own = state_dict();
  std::set<std::string> own_names;
  for (auto& [name, t] : own) own_names.insert(name);

  for (auto& [name, t] : own) {
    auto it = given.find(name);
    if (it == given.end()) {
      report.missing.push_back(name);
      continue;
    }
    const Tensor& src = it->second;
    if (src.shape() != t.shape()) {
      std::string msg = name + ": " + source + " has " + shape_str(src.shape()) + ", the model expects " +
                        shape_str(t.shape());
      if (strict)
        GRAFT_FAIL_DATA("load_state_dict", "mis-shaped key ", msg,
                        ". Is the file for another architecture or number of classes? "
                        "Replace the head before loading, or load non-strictly.");
      report.mismatched.push_back(msg);
      continue;
    }
    // NaN or inf in a file: a corrupt download, or weights saved after the loss diverged.
    // Loaded silently, it would only show as NaN losses epochs later.
    if (src.dtype() == DType::Float32 && src.device() == Device::CPU) {
      const float* p = src.data();
      int64_t bad = 0, first = -1;
      for (int64_t i = 0; i < src.numel(); ++i)
        if (!std::isfinite(p[i])) bad += (first < 0 ? (first = i, 1) : 1);
      if (bad)
        GRAFT_FAIL_DATA("load_state_dict", "key ", name, " in ", source, " holds ", bad, " non-finite value(s) (",
                        p[first], " at flat index ", first, " of ", src.numel(),
                        "); the file is corrupt or was saved after training diverged: use an earlier "
                        "checkpoint or convert the weights again");
    }
    if (src.dtype() == t.dtype()) {
      Tensor dst = t;
      dst.copy_(src);
    } else if (t.dtype() == DType::Int64) {  // e.g. num_batches_tracked stored as float
      std::vector<float> v = src.to_vector();
      std::vector<int64_t> iv(v.begin(), v.end());
      Tensor dst = t;
      dst.copy_(Tensor::from_labels(iv).view(t.shape()));
    } else {
      std::vector<int64_t> iv = src.to_labels();
      Tensor dst = t;
      dst.copy_(Tensor::from_vector(t.shape(), std::vector<float>(iv.begin(), iv.end())));
    }
  }
  for (auto& [name, t] : tensors)
    if (!own_names.count(name)) report.unexpected.push_back(name);

  if (strict && (!report.missing.empty() || !report.unexpected.empty())) {
    std::string msg;
    auto list = [&](const char* what, const std::vector<std::string>& v) {
      if (v.empty()) return;
      msg += std::string(" ") + std::to_string(v.size()) + " " + what + " key(s): ";
      for (size_t i = 0; i < v.size() && i < 8; ++i) msg += (i ? ", " : "") + v[i];
      if (v.size() > 8) msg += ", ...";
      msg += ";";
    };
    list("missing", report.missing);
    list("unexpected", report.unexpected);
    GRAFT_FAIL_DATA("", "load_state_dict from ", source, ":", msg,
                    " is the file for another architecture? (load non-strictly to skip replaced heads)");
  }
  return report;
}

// Walks the dotted path; null if a part is missing (`missing` then names it and the parent).
static ModulePtr find_module(const Module& root, const std::string& dotted, std::string* missing,
                             const Module** parent_of_missing) {
  const Module* cur = &root;
  ModulePtr found;
  size_t start = 0;
  while (true) {
    size_t dot = dotted.find('.', start);
    std::string part = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    found.reset();
    for (const auto& [n, c] : cur->children())
      if (n == part) found = c;
    if (!found) {
      if (missing) *missing = part;
      if (parent_of_missing) *parent_of_missing = cur;
      return nullptr;
    }
    if (dot == std::string::npos) return found;
    cur = found.get();
    start = dot + 1;
  }
}

ModulePtr Module::get(const std::string& dotted) const {
  std::string part;
  const Module* parent = nullptr;
  ModulePtr found = find_module(*this, dotted, &part, &parent);
  if (found) return found;
  std::string names;
  for (const auto& [n, c] : parent->children()) names += (names.empty() ? "" : ", ") + n;
  GRAFT_FAIL("", "no module named '", dotted, "' ('", part, "' not found; available here: ",
             names.empty() ? "none" : names, ")");
}

bool Module::has(const std::string& dotted) const { return find_module(*this, dotted, nullptr, nullptr) != nullptr; }

ModulePtr Module::replace(const std::string& dotted, ModulePtr module) {
  GRAFT_CHECK(module, "replace", "the module to put at '", dotted, "' is null");
  size_t dot = dotted.rfind('.');
  Module* parent = this;
  ModulePtr parent_holder;
  if (dot != std::string::npos) {
    parent_holder = get(dotted.substr(0, dot));
    parent = parent_holder.get();
  }
  std::string leaf = dot == std::string::npos ? dotted : dotted.substr(dot + 1);
  for (auto& [n, c] : parent->children_)
    if (n == leaf) {
      module->train(parent->training_);
      std::swap(c, module);
      return module;
    }
  get(dotted);  // throws with the list of names
  return nullptr;
}

void Module::set_requires_grad(bool on) {
  for (auto& [n, t] : params_) t.set_requires_grad(on);
  for (auto& [n, c] : children_) c->set_requires_grad(on);
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

void Module::to(Device device) {
  NoGradGuard no_grad;  // moving the data is not part of any graph
  for (auto& [n, t] : state_dict()) {
    if (t.device() == device) continue;
    Tensor moved = t.to(device);
    t.impl()->storage = moved.impl()->storage;
    t.impl()->offset = moved.impl()->offset;
    if (t.impl()->grad) t.impl()->grad = Tensor(t.impl()->grad).to(device).impl_ptr();
  }
}

}  // namespace graft
