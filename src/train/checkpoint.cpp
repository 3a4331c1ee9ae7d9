// src/train/checkpoint.cpp — see checkpoint.h.
#include "train/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "layers/module.h"
#include "optim/optimizer.h"
#include "tensor/check.h"

namespace graft {

namespace {
const char* kOptim = "optim.";
const char* kRng = "rng.";
constexpr size_t kHistoryFields = 7;

// A count stored as an HDF5 number (epochs, batches, samples): a whole number from 0 to 2^53
// (doubles are exact up to there). Checked before the conversion to int64: NaN, inf or 1e300
// have no int64 value (converting them is undefined behaviour).
int64_t count_from(const std::string& path, const std::string& name, double v) {
  GRAFT_CHECK_DATA(v >= 0 && v <= 9007199254740992.0 && v == std::floor(v), "", path, ": attribute '", name, "' is ", v,
                   ", not a count (a whole number >= 0); the checkpoint is corrupt, use another one");
  return static_cast<int64_t>(v);
}
}  // namespace

std::string generator_state(Generator& gen) {
  std::ostringstream os;
  os << gen.engine();
  return os.str();
}

void set_generator_state(Generator& gen, const std::string& state, const std::string& source) {
  std::istringstream is(state);
  std::mt19937_64 e;
  is >> e;
  GRAFT_CHECK_DATA(!is.fail(), source, "not a valid random generator state (expected the 313 numbers of an ",
                   "mt19937_64 written by graft)");
  gen.engine() = e;
}

void save_training_checkpoint_tensors(const std::string& path, const Module& model, const NamedTensors& optimizer_state,
                                      TrainingState s, const NamedGenerators& generators, const WeightsInfo& info,
                                      const std::function<void(H5File&)>& describe) {
  WeightsExtras extras;
  for (const auto& [n, t] : optimizer_state) extras.datasets.emplace_back(kOptim + n, t);
  s.rng.clear();
  for (const auto& [name, gen] : generators) s.rng.emplace_back(name, generator_state(*gen));
  extras.attributes = [&](H5File& f) {
    if (describe) describe(f);
    const FitProgress& p = s.progress;
    f.set_attr("graft_checkpoint", 2.0);
    f.set_attr("run", s.architecture);
    f.set_attr("epoch", static_cast<double>(p.epoch));
    f.set_attr("best_valid_loss", p.best_valid_loss);
    f.set_attr("epochs_since_best", static_cast<double>(p.epochs_since_best));
    f.set_attr("best_epoch", static_cast<double>(p.best_epoch));
    f.set_attr("settings", s.settings);
    std::vector<std::string> names;
    for (const auto& [name, state] : s.rng) {
      f.set_attr(kRng + name, state);
      names.push_back(name);
    }
    if (!names.empty()) f.set_attr("rng_names", names);
    std::vector<std::string> number_names;
    for (const auto& [name, v] : s.numbers) {
      f.set_attr("run_state." + name, v);
      number_names.push_back(name);
    }
    if (!number_names.empty()) f.set_attr("run_state_names", number_names);
    std::vector<double> h;
    for (const auto& m : p.history)
      h.insert(h.end(), {static_cast<double>(m.epoch), m.train_loss, m.train_acc, m.valid_loss, m.valid_acc, m.lr,
                         m.seconds});
    if (!h.empty()) f.set_attr("history", h);
    if (p.partial.batches > 0) {  // an epoch stopped part way (fit.h Note [Interrupted epochs])
      const PartialEpoch& q = p.partial;
      f.set_attr("partial_epoch", std::vector<double>{static_cast<double>(q.batches), static_cast<double>(q.steps),
                                                      static_cast<double>(q.seen), static_cast<double>(q.correct),
                                                      q.loss_sum, q.seconds});
    }
  };
  save_weights(model, path, info, extras);
}

void save_training_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                              TrainingState state, const NamedGenerators& generators, const WeightsInfo& info,
                              const std::function<void(H5File&)>& describe) {
  save_training_checkpoint_tensors(path, model, optimizer ? optimizer->state() : NamedTensors{}, std::move(state),
                                   generators, info, describe);
}

Checkpoint load_checkpoint(const std::string& path, const std::string& expected_architecture) {
  Checkpoint c;
  int version = 0;
  std::vector<std::string> model_keys;
  {
    H5File f(path, H5File::Mode::Read);
    GRAFT_CHECK_DATA(f.has_attr("graft_checkpoint"), "", path,
                     " is not a graft training checkpoint (no 'graft_checkpoint' attribute); to load plain weights use "
                     "the model's weights option instead of --resume");
    version = static_cast<int>(std::min<int64_t>(count_from(path, "graft_checkpoint", f.attr_number("graft_checkpoint")), 1 << 20));
    TrainingState& s = c.state;
    s.architecture = f.attr_string(version == 1 ? "architecture" : "run");
    GRAFT_CHECK_DATA(expected_architecture.empty() || s.architecture == expected_architecture, "",
                     "checkpoint ", path, " was saved from a '", s.architecture, "' model, but this run builds a '",
                     expected_architecture, "' model; use the same --model (and spec) as the saved run, or start a "
                     "new run without --resume");
    FitProgress& p = s.progress;
    p.epoch = count_from(path, "epoch", f.attr_number("epoch"));
    p.best_valid_loss = f.attr_number("best_valid_loss");
    p.epochs_since_best = count_from(path, "epochs_since_best", f.attr_number("epochs_since_best"));
    p.best_epoch = count_from(path, "best_epoch", f.attr_number("best_epoch"));
    s.settings = f.attr_string("settings");
    if (f.has_attr("rng_names"))
      for (const auto& name : f.attr_strings("rng_names")) s.rng.emplace_back(name, f.attr_string(kRng + name));
    if (f.has_attr("run_state_names"))
      for (const auto& name : f.attr_strings("run_state_names"))
        s.numbers.emplace_back(name, f.attr_numbers("run_state." + name));
    if (f.has_attr("history")) {
      const auto h = f.attr_numbers("history");
      GRAFT_CHECK_DATA(h.size() % kHistoryFields == 0, "", path, ": attribute 'history' has ", h.size(),
                       " numbers, not a multiple of ", kHistoryFields);
      for (size_t i = 0; i < h.size(); i += kHistoryFields)
        p.history.push_back({count_from(path, "history", h[i]), h[i + 1], h[i + 2], h[i + 3], h[i + 4], h[i + 5], h[i + 6]});
    }
    if (f.has_attr("partial_epoch")) {
      const auto q = f.attr_numbers("partial_epoch");
      GRAFT_CHECK_DATA(q.size() == 6 && q[0] >= 1, "", path, ": attribute 'partial_epoch' should be 6 numbers "
                       "(batches >= 1, steps, seen, correct, loss sum, seconds), got ", q.size());
      p.partial = {count_from(path, "partial_epoch", q[0]), count_from(path, "partial_epoch", q[1]),
                   count_from(path, "partial_epoch", q[2]), count_from(path, "partial_epoch", q[3]), q[4], q[5]};
    }
    if (version >= 2 && f.has_attr("keys")) model_keys = f.attr_strings("keys");
  }
  // The model's tensors in its own order ("keys"), then the optimizer's; anything else is an error.
  H5File f(path, H5File::Mode::Read);
  std::set<std::string> known(model_keys.begin(), model_keys.end());
  for (const auto& k : model_keys) c.model.emplace_back(k, f.read(k));
  for (const auto& n : f.keys()) {
    if (known.count(n)) continue;
    if (n.rfind(kOptim, 0) == 0) c.optimizer.emplace_back(n.substr(6), f.read(n));
    else if (version == 1 && n.rfind("model.", 0) == 0) c.model.emplace_back(n.substr(6), f.read(n));
    else GRAFT_FAIL_DATA("", path, ": unexpected dataset '", n, "' (a checkpoint holds the model's tensors and optim.*)");
  }
  return c;
}

TrainingState load_training_checkpoint_tensors(const std::string& path, const std::string& architecture,
                                               Module& model, NamedTensors* optimizer_state,
                                               const NamedGenerators& generators) {
  Checkpoint c = load_checkpoint(path, architecture);
  model.load_state_dict(c.model, /*strict=*/true, "checkpoint " + path);
  for (const auto& [name, gen] : generators) {
    bool found = false;
    for (const auto& [n, st] : c.state.rng)
      if (n == name) {
        set_generator_state(*gen, st, path + " attribute rng." + name);
        found = true;
      }
    GRAFT_CHECK_DATA(found, "", path, ": no state for the random generator '", name, "' (attribute rng.", name, ")");
  }
  if (optimizer_state) *optimizer_state = std::move(c.optimizer);
  return c.state;
}

TrainingState load_training_checkpoint(const std::string& path, const std::string& architecture, Module& model,
                                       Optimizer* optimizer, const NamedGenerators& generators) {
  NamedTensors optim;
  TrainingState s = load_training_checkpoint_tensors(path, architecture, model, &optim, generators);
  if (optimizer) {
    GRAFT_CHECK_DATA(!optim.empty(), "", "checkpoint ", path,
                     " holds no optimizer state; it cannot resume training exactly");
    optimizer->load_state(optim);
  }
  return s;
}

}  // namespace graft
