// src/optim/optimizer.h — the optimizer base class: parameter groups, zero_grad, state.
//
// An optimizer holds Tensor handles to the parameters (the module's own tensors, so updates
// are in place and survive Module::to), grouped so that each group has its own learning rate
// and weight decay (e.g. a small lr for a pretrained backbone, a large one for a new head).
// step() updates every parameter that requires a gradient and has one; frozen parameters and
// parameters that received no gradient are skipped, as in PyTorch.
//
// Per-parameter state (momentum buffers, Adam moments, step counts) lives beside the groups and
// is saved for checkpoints as named tensors:
//   "state.<group>.<index>.<name>"  a buffer with the parameter's shape (e.g. "state.0.1.exp_avg")
//   "state.<group>.<index>.step"    Int64 scalar, number of updates applied to that parameter
//   "param_groups.<group>.lr", "param_groups.<group>.weight_decay"   float scalars
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tensor/hdf5_io.h"
#include "tensor/tensor.h"

namespace graft {

struct ParamGroup {
  std::vector<Tensor> params;
  float lr;
  float weight_decay = 0;
};

class Optimizer {
 public:
  explicit Optimizer(std::vector<ParamGroup> groups, const char* name);
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual void step() = 0;  // skips params with requires_grad false or undefined grad
  void zero_grad();         // drops grads (set to undefined, PyTorch's set_to_none=True)
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }

  // The coefficient OneCycleLR cycles: SGD's momentum, Adam's beta1 (PyTorch's group
  // 'momentum' / 'betas'[0]). graft keeps one for all groups, as every group cycles alike.
  virtual bool has_momentum() const { return false; }
  virtual float momentum_coefficient() const { return 0; }
  virtual void set_momentum_coefficient(float) {}

  // Checkpoints: a snapshot (copies) of the state, and its restoration into an optimizer built
  // over the same parameter groups. Unknown keys or mis-shaped buffers throw, naming the key.
  virtual NamedTensors state() const = 0;
  virtual void load_state(const NamedTensors& state) = 0;

 protected:
  // State of one parameter: its named buffers and how many updates it has received.
  struct ParamState {
    int64_t step = 0;
    std::map<std::string, Tensor> buffers;
  };
  // True when step() should update this parameter.
  static bool has_update(const Tensor& p) { return p.defined() && p.requires_grad() && p.grad().defined(); }
  // step()'s loop: update(p, p.grad(), p's state, p's group) for every parameter with an update.
  template <class Update>
  void for_each_update(Update update) {
    for (size_t gi = 0; gi < groups_.size(); ++gi)
      for (size_t i = 0; i < groups_[gi].params.size(); ++i) {
        Tensor& p = groups_[gi].params[i];
        if (has_update(p)) update(p, p.grad(), state_[gi][i], groups_[gi]);
      }
  }
  // The named state buffer of parameter p, created zero-filled on first use (`created` says so)
  // and kept on p's device (a model moved with Module::to after load_state keeps working).
  Tensor state_buffer(ParamState& s, const std::string& name, const Tensor& p, bool* created = nullptr);

  // The common (de)serialization behind state()/load_state(); `buffer_names` are the buffers
  // this optimizer knows (anything else in a checkpoint is an error).
  NamedTensors save_state() const;
  void restore_state(const NamedTensors& state, const std::vector<std::string>& buffer_names);

  std::string name_;  // "SGD", "Adam", "AdamW" (for error messages)
  std::vector<ParamGroup> groups_;
  std::vector<std::vector<ParamState>> state_;  // [group][index]
};

}  // namespace graft
