// tests/test_fit.cpp — the library's training loop (train/fit.h): the history it keeps, the
// best-epoch bookkeeping, early stopping, callbacks, and a resumed run equal to an
// uninterrupted one bit for bit.
#include <cmath>
#include <limits>

#include "data/datasets.h"
#include "data/loader.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "layers/sequential.h"
#include "optim/sgd.h"
#include "tensor/random.h"
#include "testing.h"
#include "train/checkpoint.h"
#include "train/fit.h"

using namespace graft;

namespace {

// 24 points in 2 classes, separable by the sign of x0 + x1.
std::shared_ptr<TensorDataset> toy_data() {
  Tensor x = testing::random_tensor({24, 2}, 7);
  std::vector<int64_t> y;
  const std::vector<float> v = x.to_vector();
  for (int64_t i = 0; i < 24; ++i) y.push_back(v[2 * i] + v[2 * i + 1] > 0 ? 1 : 0);
  return std::make_shared<TensorDataset>(x, y, std::vector<std::string>{}, std::vector<std::string>{"neg", "pos"});
}

std::unique_ptr<DataLoader> loader(std::shared_ptr<TensorDataset> d, bool shuffle) {
  LoaderOptions o;
  o.batch_size = 5;  // 24 = 4 full batches + one of 4
  o.shuffle = shuffle;
  o.seed = 3;
  o.num_workers = 0;
  return std::make_unique<DataLoader>(d, Pipeline(), o);
}

const LossFn kCrossEntropy = [](const Tensor& out, const Tensor& y) { return cross_entropy(out, y); };

struct Counter : Callback {
  int fit_begin = 0, epoch_begin = 0, batches = 0, epoch_end = 0, fit_end = 0;
  void on_fit_begin(FitState&) override { ++fit_begin; }
  void on_epoch_begin(FitState&) override { ++epoch_begin; }
  void on_batch_end(FitState&, const Batch&, const StepResult&) override { ++batches; }
  void on_epoch_end(FitState&) override { ++epoch_end; }
  void on_fit_end(FitState&) override { ++fit_end; }
};

}  // namespace

TEST_CASE("fit: trains, keeps one history row per epoch, and tracks the best validation loss") {
  manual_seed(1);
  Linear model(2, 2);
  SGD opt(model.parameters(), 0.5f, 0.9f);
  auto data = toy_data();
  auto train = loader(data, true), valid = loader(data, false);
  Counter counter;
  FitOptions fo;
  fo.epochs = 6;
  const FitProgress p = fit(model, opt, kCrossEntropy, *train, valid.get(), fo, {&counter});
  REQUIRE(p.history.size() == 6);
  CHECK(p.epoch == 6);
  CHECK((counter.fit_begin == 1 && counter.fit_end == 1));
  CHECK((counter.epoch_begin == 6 && counter.epoch_end == 6));
  CHECK(counter.batches == 6 * 5);  // ceil(24 / 5) batches per epoch
  // The best is the lowest validation loss of the history, and counts the epochs since.
  int64_t best = 1;
  for (const EpochMetrics& m : p.history)
    if (m.valid_loss < p.history[best - 1].valid_loss) best = m.epoch;
  CHECK(p.best_epoch == best);
  CHECK(p.best_valid_loss == p.history[best - 1].valid_loss);
  CHECK(p.epochs_since_best == 6 - best);
  // A separable problem: the loss falls and the points get classified.
  CHECK(p.history.back().train_loss < p.history.front().train_loss);
  CHECK(p.history.back().valid_acc > 0.9);
  CHECK(p.history[0].lr == doctest::Approx(0.5));
  // The validation numbers are evaluate()'s on the same loader.
  const EvalResult r = evaluate(model, *valid, Device::CPU);
  CHECK(r.mean_cross_entropy == doctest::Approx(p.history.back().valid_loss).epsilon(1e-12));
  CHECK(r.count == 24);
}

TEST_CASE("fit: early stopping ends the run after `patience` epochs without a new best") {
  // lr 0: the weights never move, so every validation loss equals the first; only epoch 1 is
  // an improvement (over +inf). Patience 2 stops after epoch 3.
  manual_seed(2);
  Linear model(2, 2);
  SGD opt(model.parameters(), 0.0f);
  auto data = toy_data();
  auto train = loader(data, true), valid = loader(data, false);
  EarlyStopping early(2);
  std::vector<bool> improved;
  LambdaCallback record;
  record.epoch_end = [&](FitState& s) { improved.push_back(s.improved); };
  FitOptions fo;
  fo.epochs = 10;
  const FitProgress p = fit(model, opt, kCrossEntropy, *train, valid.get(), fo, {&early, &record});
  CHECK(p.epoch == 3);
  CHECK(early.stopped());
  CHECK(improved == std::vector<bool>{true, false, false});
  CHECK(p.best_epoch == 1);
  CHECK(p.epochs_since_best == 2);
  // Resumed with no patience left, it trains no further.
  EarlyStopping again(2);
  fo.progress = p;
  CHECK(fit(model, opt, kCrossEntropy, *train, valid.get(), fo, {&again}).epoch == 3);
}

TEST_CASE("fit: a run stopped after 2 epochs and resumed from its checkpoint equals 4 epochs straight") {
  testing::TempDir dir("fit_resume");
  auto data = toy_data();
  auto run = [&](int64_t first, bool resume) {
    manual_seed(4);
    Sequential model{std::make_shared<Linear>(2, 4), std::make_shared<Linear>(4, 2)};
    SGD opt(model.parameters(), 0.2f, 0.9f);  // momentum buffers: state the checkpoint must carry
    auto train = loader(data, true), valid = loader(data, false);
    const std::string path = dir.file("last.h5");
    FitOptions fo;
    fo.epochs = first;
    FitProgress p = fit(model, opt, kCrossEntropy, *train, valid.get(), fo);
    if (resume) {
      TrainingState st;
      st.architecture = "toy";
      st.progress = p;
      save_training_checkpoint(path, model, &opt, st, {{"default", &default_generator()}});
      manual_seed(99);  // "a new process": another model and random stream, then the checkpoint
      Sequential fresh{std::make_shared<Linear>(2, 4), std::make_shared<Linear>(4, 2)};
      SGD opt2(fresh.parameters(), 0.2f, 0.9f);
      const TrainingState back = load_training_checkpoint(path, "toy", fresh, &opt2, {{"default", &default_generator()}});
      fo.epochs = 4;
      fo.progress = back.progress;
      p = fit(fresh, opt2, kCrossEntropy, *train, valid.get(), fo);
      return std::make_pair(fresh.state_dict()[0].second.clone(), p);
    }
    return std::make_pair(model.state_dict()[0].second.clone(), p);
  };
  const auto [straight, ps] = run(4, false);
  const auto [resumed, pr] = run(2, true);
  CHECK_CLOSE("weights", resumed, straight, 0, 0);  // the same batches and updates: exact
  REQUIRE(pr.history.size() == 4);
  for (size_t i = 0; i < 4; ++i) CHECK(pr.history[i].train_loss == ps.history[i].train_loss);
  CHECK(pr.best_epoch == ps.best_epoch);
}

TEST_CASE("checkpoint: a version-1 file (model.* datasets) still resumes") {
  testing::TempDir dir("ckpt_v1");
  const std::string path = dir.file("old.h5");
  Linear model(3, 2);
  NamedTensors old;
  for (auto& [k, t] : model.state_dict()) old.emplace_back("model." + k, t);
  save_tensors(path, old, [](H5File& f) {
    f.set_attr("graft_checkpoint", 1.0);
    f.set_attr("architecture", std::string("toy"));
    f.set_attr("epoch", 2.0);
    f.set_attr("best_valid_loss", 0.5);
    f.set_attr("epochs_since_best", 0.0);
    f.set_attr("best_epoch", 2.0);
    f.set_attr("settings", std::string(""));
  });
  Linear back(3, 2);
  const TrainingState s = load_training_checkpoint(path, "toy", back, nullptr, {});
  CHECK(s.progress.epoch == 2);
  CHECK_CLOSE("weight", back.weight, model.weight, 0, 0);
  CHECK_THROWS_WITH(load_training_checkpoint(path, "other", back, nullptr, {}),
                    doctest::Contains("was saved from a 'toy' model, but this run builds a 'other' model"));
}
