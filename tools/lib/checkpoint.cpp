// tools/lib/checkpoint.cpp — see checkpoint.h.
#include "checkpoint.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "layers/module.h"
#include "optim/optimizer.h"

namespace graft::tools {

namespace {
const char* kModel = "model.";
const char* kOptim = "optim.";
const char* kRng = "rng.";
constexpr size_t kHistoryFields = 7;
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
  if (is.fail())
    throw std::runtime_error(source + ": not a valid random generator state (expected the 313 numbers of an "
                             "mt19937_64 written by graft)");
  gen.engine() = e;
}

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  NamedTensors all;
  for (const auto& [n, t] : c.model) all.emplace_back(kModel + n, t);
  for (const auto& [n, t] : c.optimizer) all.emplace_back(kOptim + n, t);
  const TrainingState& s = c.state;
  save_tensors(path, all, [&](H5File& f) {
    f.set_attr("graft_checkpoint", 1.0);
    f.set_attr("architecture", s.architecture);
    f.set_attr("epoch", static_cast<double>(s.epoch));
    f.set_attr("best_valid_loss", s.best_valid_loss);
    f.set_attr("epochs_since_best", static_cast<double>(s.epochs_since_best));
    f.set_attr("best_epoch", static_cast<double>(s.best_epoch));
    f.set_attr("settings", s.settings);
    std::vector<std::string> names;
    for (const auto& [name, state] : s.rng) {
      f.set_attr(kRng + name, state);
      names.push_back(name);
    }
    if (!names.empty()) f.set_attr("rng_names", names);
    std::vector<double> h;
    for (const auto& m : s.history)
      h.insert(h.end(), {static_cast<double>(m.epoch), m.train_loss, m.train_acc, m.valid_loss, m.valid_acc, m.lr, m.seconds});
    if (!h.empty()) f.set_attr("history", h);
  });
}

Checkpoint load_checkpoint(const std::string& path, const std::string& expected_architecture) {
  Checkpoint c;
  {
    H5File f(path, H5File::Mode::Read);
    if (!f.has_attr("graft_checkpoint"))
      throw std::runtime_error(path + " is not a graft training checkpoint (no 'graft_checkpoint' attribute); "
                               "to load plain weights use the model's weights option instead of --resume");
    TrainingState& s = c.state;
    s.architecture = f.attr_string("architecture");
    if (!expected_architecture.empty() && s.architecture != expected_architecture)
      throw std::runtime_error("checkpoint " + path + " was saved from a '" + s.architecture +
                               "' model, but this run builds a '" + expected_architecture +
                               "' model; use the same --model (and spec) as the saved run, or start a new run "
                               "without --resume");
    s.epoch = static_cast<int64_t>(f.attr_number("epoch"));
    s.best_valid_loss = f.attr_number("best_valid_loss");
    s.epochs_since_best = static_cast<int64_t>(f.attr_number("epochs_since_best"));
    s.best_epoch = static_cast<int64_t>(f.attr_number("best_epoch"));
    s.settings = f.attr_string("settings");
    if (f.has_attr("rng_names"))
      for (const auto& name : f.attr_strings("rng_names")) s.rng.emplace_back(name, f.attr_string(kRng + name));
    if (f.has_attr("history")) {
      auto h = f.attr_numbers("history");
      if (h.size() % kHistoryFields)
        throw std::runtime_error(path + ": attribute 'history' has " + std::to_string(h.size()) +
                                 " numbers, not a multiple of " + std::to_string(kHistoryFields));
      for (size_t i = 0; i < h.size(); i += kHistoryFields)
        s.history.push_back({static_cast<int64_t>(h[i]), h[i + 1], h[i + 2], h[i + 3], h[i + 4], h[i + 5], h[i + 6]});
    }
  }
  for (auto& [n, t] : load_tensors(path)) {
    if (n.rfind(kModel, 0) == 0) c.model.emplace_back(n.substr(6), t);
    else if (n.rfind(kOptim, 0) == 0) c.optimizer.emplace_back(n.substr(6), t);
    else throw std::runtime_error(path + ": unexpected dataset '" + n + "' (a checkpoint holds only model.* and optim.*)");
  }
  return c;
}

void save_training_checkpoint_tensors(const std::string& path, const Module& model, const NamedTensors& optimizer_state,
                              TrainingState state, const std::vector<std::pair<std::string, Generator*>>& generators) {
  state.rng.clear();
  for (const auto& [name, gen] : generators) state.rng.emplace_back(name, generator_state(*gen));
  save_checkpoint(path, Checkpoint{std::move(state), model.state_dict(), optimizer_state});
}

TrainingState load_training_checkpoint_tensors(const std::string& path, const std::string& architecture,
                                               Module& model, NamedTensors* optimizer_state,
                                       const std::vector<std::pair<std::string, Generator*>>& generators) {
  Checkpoint c = load_checkpoint(path, architecture);
  model.load_state_dict(c.model, /*strict=*/true, "checkpoint " + path);
  for (const auto& [name, gen] : generators) {
    bool found = false;
    for (const auto& [n, st] : c.state.rng)
      if (n == name) {
        set_generator_state(*gen, st, path + " attribute rng." + name);
        found = true;
      }
    if (!found) throw std::runtime_error(path + ": no state for the random generator '" + name + "' (attribute rng." + name + ")");
  }
  if (optimizer_state) *optimizer_state = std::move(c.optimizer);
  return c.state;
}

void save_training_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                              TrainingState state, const std::vector<std::pair<std::string, Generator*>>& generators) {
  save_training_checkpoint_tensors(path, model, optimizer ? optimizer->state() : NamedTensors{}, std::move(state), generators);
}

TrainingState load_training_checkpoint(const std::string& path, const std::string& architecture, Module& model,
                                       Optimizer* optimizer,
                                       const std::vector<std::pair<std::string, Generator*>>& generators) {
  NamedTensors optim;
  TrainingState s = load_training_checkpoint_tensors(path, architecture, model, &optim, generators);
  if (optimizer) {
    if (optim.empty())
      throw std::runtime_error("checkpoint " + path + " holds no optimizer state; it cannot resume training exactly");
    optimizer->load_state(optim);
  }
  return s;
}

EarlyStopping::Decision EarlyStopping::update(double valid_loss) {
  Decision d;
  if (valid_loss < best_ - min_delta_) {
    best_ = valid_loss;
    since_ = 0;
    d.improved = true;
  } else {
    ++since_;
    d.stop = since_ >= patience_;
  }
  return d;
}

}  // namespace graft::tools
