// src/optim/optimizer.cpp — see optimizer.h.
#include "optim/optimizer.h"

#include "tensor/check.h"

namespace graft {

Optimizer::Optimizer(std::vector<ParamGroup> groups, const char* name) : name_(name), groups_(std::move(groups)) {
  for (size_t g = 0; g < groups_.size(); ++g) {
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      const Tensor& p = groups_[g].params[i];
      GRAFT_CHECK(p.defined() && p.dtype() == DType::Float32, name_, "parameter ", i, " of group ", g,
                  " must be a defined float32 tensor, got ", p.defined() ? p.str() : std::string("an undefined tensor"));
    }
    GRAFT_CHECK(groups_[g].lr >= 0, name_, "invalid learning rate ", groups_[g].lr, " in group ", g,
                " (must be >= 0)");
    state_.emplace_back(groups_[g].params.size());
  }
}

Optimizer::~Optimizer() = default;

void Optimizer::zero_grad() {
  for (auto& group : groups_)
    for (auto& p : group.params) p.zero_grad();
}

Tensor Optimizer::state_buffer(ParamState& s, const std::string& name, const Tensor& p, bool* created) {
  auto it = s.buffers.find(name);
  const bool is_new = it == s.buffers.end();
  if (created) *created = is_new;
  if (is_new)
    it = s.buffers.emplace(name, Tensor::zeros(p.shape(), DType::Float32, p.device())).first;
  else if (it->second.device() != p.device())
    it->second = it->second.to(p.device());
  return it->second;
}

namespace {
std::string key(size_t g, size_t i, const std::string& name) {
  return "state." + std::to_string(g) + "." + std::to_string(i) + "." + name;
}
Tensor int64_scalar(int64_t v) {
  Tensor t = Tensor::zeros({}, DType::Int64);
  t.data_ptr<int64_t>()[0] = v;
  return t;
}
}  // namespace

NamedTensors Optimizer::save_state() const {
  NamedTensors out;
  for (size_t g = 0; g < groups_.size(); ++g) {
    out.emplace_back("param_groups." + std::to_string(g) + ".lr", Tensor::scalar(groups_[g].lr));
    out.emplace_back("param_groups." + std::to_string(g) + ".weight_decay", Tensor::scalar(groups_[g].weight_decay));
    for (size_t i = 0; i < state_[g].size(); ++i) {
      const ParamState& s = state_[g][i];
      if (s.step == 0 && s.buffers.empty()) continue;  // never updated: no state, as in PyTorch
      out.emplace_back(key(g, i, "step"), int64_scalar(s.step));
      for (const auto& [name, buf] : s.buffers) out.emplace_back(key(g, i, name), buf.clone());
    }
  }
  return out;
}

void Optimizer::restore_state(const NamedTensors& state, const std::vector<std::string>& buffer_names) {
  auto bad = [&](const std::string& k, const std::string& why) {
    GRAFT_FAIL(name_ + "::load_state", "key '", k, "': ", why,
               " (was the checkpoint written by this optimizer over the same parameter groups?)");
  };
  for (auto& group_state : state_)
    for (auto& s : group_state) s = ParamState{};
  for (const auto& entry : state) {  // not a structured binding: clang < 16 cannot capture one
    const std::string& k = entry.first;
    const Tensor& t = entry.second;
    // "param_groups.<g>.<field>" or "state.<g>.<i>.<name>"
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t dot; (dot = k.find('.', start)) != std::string::npos; start = dot + 1)
      parts.push_back(k.substr(start, dot - start));
    parts.push_back(k.substr(start));
    // k by an init-capture: clang 14 (the TSan build) cannot capture a structured binding.
    auto index = [&, &k = k](const std::string& s, size_t limit, const char* what) -> size_t {
      size_t v = 0;
      try {
        v = std::stoul(s);
      } catch (const std::exception&) {
        bad(k, std::string("'") + s + "' is not a " + what + " index");
      }
      if (v >= limit) bad(k, std::string(what) + " " + s + " does not exist (there are " + std::to_string(limit) + ")");
      return v;
    };
    if (parts.size() == 3 && parts[0] == "param_groups") {
      size_t g = index(parts[1], groups_.size(), "group");
      if (t.numel() != 1 || t.dtype() != DType::Float32) bad(k, "expected a float32 scalar, got " + t.str());
      if (parts[2] == "lr")
        groups_[g].lr = t.item();
      else if (parts[2] == "weight_decay")
        groups_[g].weight_decay = t.item();
      else
        bad(k, "unknown group field '" + parts[2] + "' (expected lr or weight_decay)");
    } else if (parts.size() == 4 && parts[0] == "state") {
      size_t g = index(parts[1], groups_.size(), "group");
      size_t i = index(parts[2], groups_[g].params.size(), "parameter");
      const Tensor& p = groups_[g].params[i];
      if (parts[3] == "step") {
        if (t.numel() != 1 || t.dtype() != DType::Int64) bad(k, "expected an Int64 scalar, got " + t.str());
        state_[g][i].step = t.to_labels()[0];
        continue;
      }
      bool known = false;
      for (const auto& n : buffer_names) known = known || n == parts[3];
      if (!known) bad(k, "unknown state '" + parts[3] + "' for " + name_);
      if (t.shape() != p.shape())
        bad(k, "shape " + shape_str(t.shape()) + " does not match the parameter's shape " + shape_str(p.shape()));
      Tensor buf = Tensor::empty(p.shape(), DType::Float32, p.device());
      buf.copy_(t);
      state_[g][i].buffers[parts[3]] = buf;
    } else {
      bad(k, "expected 'state.<group>.<index>.<name>' or 'param_groups.<group>.<field>'");
    }
  }
}

}  // namespace graft
