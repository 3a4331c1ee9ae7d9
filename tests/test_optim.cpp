// tests/test_optim.cpp — SGD, Adam, AdamW and the lr schedules against torch.optim.
//
// Every reference case trains a graft::Linear(4, 3) with cross_entropy on the batch stored in
// optim.h5 ("setup/*"), starting from the stored weights, exactly as tools/references/optim.py
// trains nn.Linear, and compares the parameters after 3 and after 5 steps.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>

#include "autograd/ops.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "optim/adam.h"
#include "optim/scheduler.h"
#include "optim/sgd.h"
#include "testing.h"

using namespace graft;

namespace {

struct Setup {
  Tensor weight, bias, x, target;
};

Setup read_setup(const H5File& f) {
  return {f.read("setup/weight"), f.read("setup/bias"), f.read("setup/x"), f.read("setup/target")};
}

std::shared_ptr<Linear> model_from(const Setup& s) {
  auto m = std::make_shared<Linear>(4, 3);
  m->weight.copy_(s.weight);
  m->bias.copy_(s.bias);
  return m;
}

// One training step as in optim.py: zero_grad, cross-entropy, backward, step. Returns the loss.
float train_step(Optimizer& opt, Linear& m, const Setup& s) {
  opt.zero_grad();
  Tensor loss = cross_entropy(m(s.x), s.target);
  loss.backward();
  opt.step();
  return loss.item();
}

// CHECK_CLOSE, and with GRAFT_REPORT_ERRORS set, print the worst error (for reports).
void check_param(const std::string& what, const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  CHECK_CLOSE(what, actual, expected, rtol, atol);
  if (std::getenv("GRAFT_REPORT_ERRORS")) {
    auto c = testing::compare(actual, expected, rtol, atol);
    std::printf("parity %-28s max abs %.3g  max rel %.3g\n", what.c_str(), c.worst_abs, c.worst_rel);
  }
}

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(Linear&)>;

// Tolerance: after 5 float32 steps the parameters differ from torch's only by the rounding of
// the GEMMs (summation order, ~1e-7) and of the update arithmetic, carried through the steps;
// Adam's m / sqrt(v) can amplify a relative gradient error by ~1. Measured worst: 1.4e-7
// absolute (parameters are O(1)), so 2e-5 relative + 2e-6 absolute is a >10x margin that still
// catches any formula slip (a wrong first step or decay moves parameters by ~1e-3).
void check_case(const std::string& name, const MakeOptimizer& make, bool freeze_bias = false) {
  REQUIRE_REFERENCE(path, "optim.h5");
  H5File f(path, H5File::Mode::Read);
  Setup s = read_setup(f);
  auto m = model_from(s);
  if (freeze_bias) m->bias.set_requires_grad(false);
  auto opt = make(*m);
  std::vector<float> losses;
  for (int step = 1; step <= 5; ++step) {
    losses.push_back(train_step(*opt, *m, s));
    if (step == 3 || step == 5) {
      const std::string k = std::to_string(step);
      check_param(name + " weight after " + k, m->weight, f.read(name + "/weight_" + k), 2e-5, 2e-6);
      check_param(name + " bias after " + k, m->bias, f.read(name + "/bias_" + k), 2e-5, 2e-6);
    }
  }
  check_param(name + " losses", Tensor::from_vector({5}, losses), f.read(name + "/losses"), 2e-5, 2e-6);
}

}  // namespace

TEST_CASE("SGD: plain, lr 0.1, matches torch.optim.SGD") {
  check_case("sgd", [](Linear& m) { return std::make_unique<SGD>(m.parameters(), 0.1f); });
}

TEST_CASE("SGD: nesterov momentum 0.9 with weight decay 1e-2 matches torch") {
  check_case("sgd_nesterov",
             [](Linear& m) { return std::make_unique<SGD>(m.parameters(), 0.1f, 0.9f, 0.0f, 1e-2f, true); });
}

TEST_CASE("SGD: momentum 0.9 with dampening 0.1 matches torch (first step: buf = grad)") {
  check_case("sgd_dampening", [](Linear& m) { return std::make_unique<SGD>(m.parameters(), 0.1f, 0.9f, 0.1f); });
}

TEST_CASE("SGD: two parameter groups with their own lr match torch") {
  check_case("sgd_groups", [](Linear& m) {
    return std::make_unique<SGD>(std::vector<ParamGroup>{{{m.weight}, 0.1f}, {{m.bias}, 0.01f}}, 0.9f);
  });
}

TEST_CASE("SGD: a frozen bias (requires_grad false) is left unchanged, as torch") {
  check_case(
      "sgd_frozen_bias", [](Linear& m) { return std::make_unique<SGD>(m.parameters(), 0.1f, 0.9f); }, true);
}

TEST_CASE("Adam: lr 1e-2 matches torch.optim.Adam") {
  check_case("adam", [](Linear& m) { return std::make_unique<Adam>(m.parameters(), 1e-2f); });
}

TEST_CASE("Adam: L2 weight decay 1e-2 matches torch") {
  check_case("adam_weight_decay",
             [](Linear& m) { return std::make_unique<Adam>(m.parameters(), 1e-2f, 0.9f, 0.999f, 1e-8f, 1e-2f); });
}

TEST_CASE("Adam: amsgrad matches torch") {
  check_case("adam_amsgrad",
             [](Linear& m) { return std::make_unique<Adam>(m.parameters(), 1e-2f, 0.9f, 0.999f, 1e-8f, 0.0f, true); });
}

TEST_CASE("AdamW: decoupled weight decay (default 1e-2) matches torch.optim.AdamW") {
  check_case("adamw", [](Linear& m) { return std::make_unique<AdamW>(m.parameters(), 1e-2f); });
}

// ---- schedules ---------------------------------------------------------------------------
namespace {
// Tolerance: graft evaluates the closed form in double and stores the lr as float; the
// reference is torch's double sequence stored as float: they agree to ~1 float ulp.
void check_schedule(const std::string& name, const std::function<std::unique_ptr<LRScheduler>(Optimizer&)>& make) {
  REQUIRE_REFERENCE(path, "optim.h5");
  H5File f(path, H5File::Mode::Read);
  Tensor p = Tensor::zeros({1}).set_requires_grad(true);
  SGD opt(std::vector<ParamGroup>{{{p}, 0.1f}, {{}, 0.01f}});
  auto sched = make(opt);
  std::vector<float> lrs;
  for (int epoch = 0; epoch < 8; ++epoch) {
    opt.step();
    sched->step();
    for (float lr : sched->get_lr()) lrs.push_back(lr);
  }
  check_param(name + " lrs", Tensor::from_vector({8, 2}, lrs), f.read(name + "/lrs"), 1e-6, 1e-9);
}
}  // namespace

TEST_CASE("StepLR(step 2, gamma 0.5): lr sequence over 8 epochs matches torch") {
  check_schedule("step_lr", [](Optimizer& o) { return std::make_unique<StepLR>(o, 2, 0.5f); });
}

TEST_CASE("CosineAnnealingLR(T_max 5, eta_min 1e-3): lr sequence over 8 epochs matches torch") {
  check_schedule("cosine_lr", [](Optimizer& o) { return std::make_unique<CosineAnnealingLR>(o, 5, 1e-3f); });
}

TEST_CASE("StepLR: hand-worked values and resuming at an epoch") {
  Tensor p = Tensor::zeros({1}).set_requires_grad(true);
  SGD opt({p}, 1.0f);
  StepLR sched(opt, 3, 0.1f);
  for (int i = 0; i < 3; ++i) sched.step();
  CHECK(opt.param_groups()[0].lr == doctest::Approx(0.1));  // epoch 3: one decay
  sched.set_last_epoch(7);
  CHECK(opt.param_groups()[0].lr == doctest::Approx(0.01));  // floor(7/3) = 2 decays
}

// ---- behaviour -----------------------------------------------------------------------------
TEST_CASE("Optimizer: zero_grad drops gradients; params without a gradient are skipped") {
  Tensor a = Tensor::from_vector({2}, {1, 2}).set_requires_grad(true);
  Tensor b = Tensor::from_vector({2}, {3, 4}).set_requires_grad(true);
  Adam opt(std::vector<Tensor>{a, b}, 0.1f);
  Tensor loss = cross_entropy(reshape(a, {1, 2}), Tensor::from_labels({0}));
  loss.backward();  // b gets no gradient
  opt.step();
  CHECK(b.to_vector() == std::vector<float>{3, 4});
  CHECK(a.to_vector() != std::vector<float>{1, 2});
  opt.zero_grad();
  CHECK_FALSE(a.grad().defined());
  // Adam's first step moves each coordinate by lr * sign(g) (m / sqrt(v) = +-1 up to eps):
  // g = softmax - onehot = (-0.731, 0.731) for logits (1, 2) and label 0.
  CHECK(a.to_vector()[0] == doctest::Approx(1.1).epsilon(1e-5));
  CHECK(a.to_vector()[1] == doctest::Approx(1.9).epsilon(1e-5));
}

namespace {
// Trains 2 steps, saves the state, loads it into a fresh optimizer over a copy of the model,
// takes 1 more step, and compares with 3 uninterrupted steps: must be bit-identical, since
// the same float operations run in the same order.
void check_round_trip(const MakeOptimizer& make) {
  Setup s{testing::random_tensor({3, 4}, 51), testing::random_tensor({3}, 52),
          testing::random_tensor({6, 4}, 53, -2, 2), Tensor::from_labels({0, 2, 1, 1, 0, 2})};
  auto straight = model_from(s);
  auto opt_straight = make(*straight);
  for (int i = 0; i < 3; ++i) train_step(*opt_straight, *straight, s);

  auto first = model_from(s);
  auto opt_first = make(*first);
  for (int i = 0; i < 2; ++i) train_step(*opt_first, *first, s);
  NamedTensors state = opt_first->state();
  train_step(*opt_first, *first, s);  // the saved state is a snapshot: this must not change it

  auto resumed = model_from(s);
  auto opt_first_copy = make(*resumed);  // rebuild the first model's weights after 2 steps
  for (int i = 0; i < 2; ++i) train_step(*opt_first_copy, *resumed, s);
  auto opt_resumed = make(*resumed);
  opt_resumed->load_state(state);
  train_step(*opt_resumed, *resumed, s);
  CHECK_CLOSE("weight after resume", resumed->weight, straight->weight, 0, 0);
  CHECK_CLOSE("bias after resume", resumed->bias, straight->bias, 0, 0);
}
}  // namespace

TEST_CASE("Optimizer: state()/load_state() round-trips (SGD momentum, Adam amsgrad, AdamW)") {
  SUBCASE("SGD") {
    check_round_trip([](Linear& m) { return std::make_unique<SGD>(m.parameters(), 0.1f, 0.9f, 0.1f, 1e-2f); });
  }
  SUBCASE("Adam") {
    check_round_trip(
        [](Linear& m) { return std::make_unique<Adam>(m.parameters(), 1e-2f, 0.9f, 0.999f, 1e-8f, 1e-2f, true); });
  }
  SUBCASE("AdamW") {
    check_round_trip([](Linear& m) { return std::make_unique<AdamW>(m.parameters(), 1e-2f); });
  }
}

TEST_CASE("Optimizer: state survives an HDF5 file and restores the group lr") {
  Tensor p = Tensor::from_vector({2}, {1, 2}).set_requires_grad(true);
  Adam opt(std::vector<Tensor>{p}, 0.1f);
  sum(p * p).backward();
  opt.step();
  opt.param_groups()[0].lr = 0.05f;
  const std::string file = (std::filesystem::temp_directory_path() / "graft_test_optim_state.h5").string();
  save_tensors(file, opt.state());
  Adam loaded(std::vector<Tensor>{p}, 0.1f);
  loaded.load_state(load_tensors(file));
  std::remove(file.c_str());
  CHECK(loaded.param_groups()[0].lr == 0.05f);
  auto find = [](const NamedTensors& st, const std::string& key) {
    for (const auto& [k, t] : st)
      if (k == key) return t;
    FAIL("no key " << key);
    return Tensor();
  };
  CHECK_CLOSE("exp_avg", find(loaded.state(), "state.0.0.exp_avg"), find(opt.state(), "state.0.0.exp_avg"), 0, 0);
  CHECK(find(loaded.state(), "state.0.0.step").to_labels() == std::vector<int64_t>{1});
}

TEST_CASE("Optimizer: load_state rejects foreign or mis-shaped state, naming the key") {
  Tensor p = Tensor::zeros({2, 3}).set_requires_grad(true);
  SGD sgd({p}, 0.1f, 0.9f);
  CHECK_THROWS_WITH(sgd.load_state({{"state.0.0.exp_avg", Tensor::zeros({2, 3})}}),
                    doctest::Contains("state.0.0.exp_avg"));
  CHECK_THROWS_WITH(sgd.load_state({{"state.0.0.momentum_buffer", Tensor::zeros({3, 2})}}),
                    doctest::Contains("[3, 2]"));
  CHECK_THROWS_WITH(sgd.load_state({{"state.0.4.momentum_buffer", Tensor::zeros({2, 3})}}),
                    doctest::Contains("parameter 4"));
  CHECK_THROWS_WITH(SGD({p}, 0.1f, 0.0f, 0.0f, 0.0f, true), doctest::Contains("nesterov"));
}
