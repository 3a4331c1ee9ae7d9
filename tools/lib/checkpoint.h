// tools/lib/checkpoint.h — everything `graft train --resume` needs to continue a run exactly.
//
// One HDF5 file (src/tensor/hdf5_io.h), written atomically (tmp + rename):
//   datasets  "model.<name>"  every parameter and buffer of the model's state_dict
//             "optim.<name>"  the optimizer's named state tensors (Optimizer::state())
//   attrs     graft_checkpoint = 1 (format version), architecture (e.g. "resnet18" or the spec
//             text of a small CNN), epoch (epochs completed), best_valid_loss, epochs_since_best,
//             best_epoch, settings (free text: the command line), rng.<name> (the mt19937_64 state
//             of each named graft::Generator, written with operator<< as decimal text), and
//             history (the per-epoch metrics, 7 numbers per epoch, for the report).
// Learning-rate schedulers need no state of their own: StepLR and cosine are closed forms of
// the epoch, so they are rebuilt from `epoch` on resume.
//
// Loading checks the architecture first, so a checkpoint of another model fails with both names
// instead of a list of missing keys.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "report.h"
#include "tensor/hdf5_io.h"
#include "tensor/random.h"

namespace graft {
class Module;
class Optimizer;
}  // namespace graft

namespace graft::tools {

// A generator's full state as text (312 numbers + position), and back. Restoring it makes the
// generator continue with exactly the draws it would have made.
std::string generator_state(Generator& gen);
void set_generator_state(Generator& gen, const std::string& state, const std::string& source = "generator state");

struct TrainingState {
  std::string architecture;
  int64_t epoch = 0;  // epochs completed
  double best_valid_loss = std::numeric_limits<double>::infinity();
  int64_t epochs_since_best = 0;
  int64_t best_epoch = 0;
  std::string settings;
  std::vector<std::pair<std::string, std::string>> rng;  // name -> generator_state()
  std::vector<EpochMetrics> history;
};

struct Checkpoint {
  TrainingState state;
  NamedTensors model;      // names without the "model." prefix
  NamedTensors optimizer;  // names without the "optim." prefix
};

// The general form: named tensors in, named tensors out.
void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
// Throws if the file is not a graft checkpoint, or (when expected_architecture is not empty)
// was saved from another architecture: "checkpoint run/last.h5 was saved from a 'vgg16' model,
// but this run builds a 'resnet18' model; ...".
Checkpoint load_checkpoint(const std::string& path, const std::string& expected_architecture = "");

// Conveniences for training code: collect from / restore into a model and generators.
// The optimizer state is passed as named tensors (Optimizer::state() / load_state()).
void save_training_checkpoint_tensors(const std::string& path, const Module& model, const NamedTensors& optimizer_state,
                              TrainingState state, const std::vector<std::pair<std::string, Generator*>>& generators);
// Loads the model weights (strict), restores the generators, returns the state; the optimizer
// tensors are put in *optimizer_state (if not null) for Optimizer::load_state.
TrainingState load_training_checkpoint_tensors(const std::string& path, const std::string& architecture,
                                               Module& model, NamedTensors* optimizer_state,
                                       const std::vector<std::pair<std::string, Generator*>>& generators);
// The same with an Optimizer (may be null: no optimizer state saved / restored). Resuming:
//   build the model and optimizer as for a new run, then
//   TrainingState s = load_training_checkpoint(path, arch, *model, opt.get(), {{"default", &default_generator()}});
//   EarlyStopping es(patience); es.restore(s.best_valid_loss, s.epochs_since_best);
//   for (int64_t epoch = s.epoch + 1; epoch <= epochs; ++epoch) ...   (schedulers: step s.epoch times)
void save_training_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                              TrainingState state, const std::vector<std::pair<std::string, Generator*>>& generators);
TrainingState load_training_checkpoint(const std::string& path, const std::string& architecture, Module& model,
                                       Optimizer* optimizer,
                                       const std::vector<std::pair<std::string, Generator*>>& generators);

// Early stopping on validation loss (mode "min"), as in the seeds' training loops:
//   improved  if loss < best - min_delta  -> save the best weights, reset the counter
//   otherwise the counter grows; stop once it reaches `patience`.
class EarlyStopping {
 public:
  explicit EarlyStopping(int64_t patience, double min_delta = 0.0) : patience_(patience), min_delta_(min_delta) {}
  struct Decision {
    bool improved = false;  // a new best: save the best weights now
    bool stop = false;      // patience exhausted: stop training
  };
  Decision update(double valid_loss);
  double best() const { return best_; }
  int64_t epochs_since_best() const { return since_; }
  int64_t patience() const { return patience_; }
  // For --resume: continue from a saved best and counter.
  void restore(double best, int64_t epochs_since_best) { best_ = best, since_ = epochs_since_best; }

 private:
  int64_t patience_;
  double min_delta_;
  double best_ = std::numeric_limits<double>::infinity();
  int64_t since_ = 0;
};

}  // namespace graft::tools
