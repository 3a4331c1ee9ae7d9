// src/train/checkpoint.h — everything a training run needs to continue exactly where it
// stopped (`graft train --resume`), and early stopping's state with it.
//
// A training checkpoint is a weights file (models.h save_weights, graft's one writer), so
// last.h5 loads as weights and evaluates like best.h5, plus:
//   datasets  "optim.<name>"  the optimizer's named state tensors (Optimizer::state())
//   attrs     graft_checkpoint = 2 (format version), run (what is being trained, e.g.
//             "resnet18 head=linear(n)": a resume must build the same), epoch (epochs
//             completed), best_valid_loss, epochs_since_best, best_epoch, settings (the command
//             line), rng.<name> (the mt19937_64 state of each named graft::Generator, as
//             decimal text), history (7 numbers per epoch, for the report), and only after
//             an interrupted epoch partial_epoch (6 numbers: batches, steps, seen, correct,
//             loss sum, seconds of epoch `epoch + 1` so far; fit.h Note [Interrupted epochs]),
//             run_state_names and run_state.<name> (TrainingState::numbers).
// Version 1 files (model tensors under "model.", the run under "architecture") still load.
// Learning-rate schedulers need no state of their own: StepLR and cosine are closed forms of
// the epoch, OneCycleLR and WarmupCosineLR of the step (epoch * steps per epoch), so they are
// rebuilt from `epoch` on resume; ReduceLROnPlateau's reduced lrs come back with the optimizer
// state, and graft train keeps its counters in TrainingState::numbers ("plateau").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "models/models.h"
#include "tensor/hdf5_io.h"
#include "tensor/random.h"
#include "train/fit.h"

namespace graft {

class Module;
class Optimizer;

// A generator's full state as text (312 numbers + position), and back. Restoring it makes the
// generator continue with exactly the draws it would have made.
std::string generator_state(Generator& gen);
void set_generator_state(Generator& gen, const std::string& state, const std::string& source = "generator state");

struct TrainingState {
  std::string architecture;  // the run's model description; a resume must match it
  std::string settings;      // free text: the command line
  FitProgress progress;      // epochs done, best validation loss, history
  std::vector<std::pair<std::string, std::string>> rng;  // name -> generator_state()
  // Numbers a command keeps with the run (attrs "run_state.<name>", listed in run_state_names):
  // graft train's fine-tune phase and ReduceLROnPlateau's counters (best, bad epochs, cooldown).
  std::vector<std::pair<std::string, std::vector<double>>> numbers;
  const std::vector<double>* number(const std::string& name) const {
    for (const auto& [n, v] : numbers)
      if (n == name) return &v;
    return nullptr;
  }
};

using NamedGenerators = std::vector<std::pair<std::string, Generator*>>;

struct Checkpoint {
  TrainingState state;
  NamedTensors model;      // the state_dict
  NamedTensors optimizer;  // names without the "optim." prefix
};

// Throws if the file is not a graft training checkpoint, or (when expected_architecture is not
// empty) was saved from another model: "checkpoint run/last.h5 was saved from a 'vgg16' model,
// but this run builds a 'resnet18' model; ...".
Checkpoint load_checkpoint(const std::string& path, const std::string& expected_architecture = "");

// Saving: the model with `info` and `describe`'s attributes (as a weights file), the optimizer
// state, the training state and the generators' states, atomically.
void save_training_checkpoint_tensors(const std::string& path, const Module& model, const NamedTensors& optimizer_state,
                                      TrainingState state, const NamedGenerators& generators,
                                      const WeightsInfo& info = {},
                                      const std::function<void(H5File&)>& describe = nullptr);
void save_training_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                              TrainingState state, const NamedGenerators& generators, const WeightsInfo& info = {},
                              const std::function<void(H5File&)>& describe = nullptr);
// Loading: the model's weights (strict), the generators; returns the state. The optimizer
// tensors go to *optimizer_state (if not null) or into the optimizer (which must then be in
// the file). Resuming:
//   build the model and optimizer as for a new run, then
//   TrainingState s = load_training_checkpoint(path, arch, *model, opt.get(), {{"default", &default_generator()}});
//   fit(..., FitOptions{.epochs = epochs, .progress = s.progress})   (schedulers: step s.progress.epoch times)
TrainingState load_training_checkpoint_tensors(const std::string& path, const std::string& architecture,
                                               Module& model, NamedTensors* optimizer_state,
                                               const NamedGenerators& generators);
TrainingState load_training_checkpoint(const std::string& path, const std::string& architecture, Module& model,
                                       Optimizer* optimizer, const NamedGenerators& generators);

}  // namespace graft
