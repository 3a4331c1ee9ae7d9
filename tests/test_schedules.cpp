// tests/test_schedules.cpp — the schedules stepped per optimizer step (OneCycleLR, warmup +
// cosine) and ReduceLROnPlateau, against torch.optim.lr_scheduler's own values
// (tools/references/schedules.py writes schedules.h5).
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "optim/adam.h"
#include "optim/plateau.h"
#include "optim/scheduler.h"
#include "optim/sgd.h"
#include "testing.h"

using namespace graft;

namespace {

// One parameter in 2 groups with lr 0.1 and 0.01, as schedules.py's two_groups().
std::vector<ParamGroup> two_groups(const Tensor& p) { return {{{p}, 0.1f}, {{}, 0.01f}}; }

// The lrs of both groups and the momentum, now: one row of schedules.py's "lrs" / "momentum".
void record(const Optimizer& opt, std::vector<float>& lrs, std::vector<float>& mom) {
  for (const auto& g : opt.param_groups()) lrs.push_back(g.lr);
  mom.push_back(opt.momentum_coefficient());
}

// Tolerance: graft evaluates each closed form in double and stores the lr as a float; torch
// computes the same numbers in double (recursively for LinearLR/cosine, which adds ~1e-16 per
// step) and schedules.py stores them as float: they agree to 1-2 float ulps (measured worst:
// 0 for OneCycleLR and plateau, 1.2e-7 relative for warmup + cosine), so 5e-7 relative; the lr
// of OneCycleLR's last step is max_lr / 25 / 1e4 = 4e-7 and is held to the same relative error.
// A formula slip (a phase boundary off by one step) moves some lr by > 1e-3 relative.
void check_rows(const std::string& name, const std::vector<float>& lrs, const std::vector<float>& mom, bool momentum) {
  REQUIRE_REFERENCE(path, "schedules.h5");
  H5File f(path, H5File::Mode::Read);
  const int64_t rows = static_cast<int64_t>(mom.size());
  const Tensor expected_lrs = f.read(name + "/lrs");
  REQUIRE(expected_lrs.shape() == Shape{rows, 2});
  const Tensor got = Tensor::from_vector({rows, 2}, lrs);
  CHECK_CLOSE(name << " lrs", got, expected_lrs, 5e-7, 0);
  if (momentum) CHECK_CLOSE(name << " momentum", Tensor::from_vector({rows}, mom), f.read(name + "/momentum"), 5e-7, 0);
  if (std::getenv("GRAFT_REPORT_ERRORS")) {
    auto c = testing::compare(got, expected_lrs, 5e-7, 0);
    std::printf("parity %-20s lrs max abs %.3g  max rel %.3g\n", name.c_str(), c.worst_abs, c.worst_rel);
  }
}

// Steps `steps` times after the values of step 0, as schedules.py's run().
template <class Step>
void run(Optimizer& opt, int steps, Step step, std::vector<float>& lrs, std::vector<float>& mom) {
  record(opt, lrs, mom);
  for (int i = 0; i < steps; ++i) {
    step(i);
    record(opt, lrs, mom);
  }
}

}  // namespace

TEST_CASE("OneCycleLR: SGD, one max_lr per group, PyTorch's defaults: lrs and momentum match torch") {
  Tensor p = Tensor::zeros({1}).set_requires_grad(true);
  SGD opt(two_groups(p), 0.9f);
  OneCycleLR::Options o;
  o.total_steps = 20;
  OneCycleLR sched(opt, std::vector<double>{0.1, 0.01}, o);
  std::vector<float> lrs, mom;
  run(opt, 20, [&](int) { sched.step(); }, lrs, mom);
  check_rows("onecycle_sgd", lrs, mom, true);
  // By hand: step 0 is max_lr / div_factor with max_momentum; the peak is at pct_start * 20 - 1 = 5.
  CHECK(lrs[0] == doctest::Approx(0.1 / 25));
  CHECK(lrs[2 * 5] == doctest::Approx(0.1));
  CHECK(mom[5] == doctest::Approx(0.85));
}

TEST_CASE("OneCycleLR: Adam cycles beta1; pct_start, div factors and momentum bounds match torch") {
  Tensor p = Tensor::zeros({1}).set_requires_grad(true);
  Adam opt(two_groups(p));
  OneCycleLR::Options o;
  o.total_steps = 17;
  o.pct_start = 0.25;
  o.div_factor = 10;
  o.final_div_factor = 100;
  o.base_momentum = 0.8;
  o.max_momentum = 0.9;
  OneCycleLR sched(opt, 0.01, o);
  std::vector<float> lrs, mom;
  run(opt, 17, [&](int) { sched.step(); }, lrs, mom);
  check_rows("onecycle_adam", lrs, mom, true);
  CHECK(opt.beta1 == doctest::Approx(0.8985).epsilon(1e-3));  // step 17 = total: past the end, as torch allows
  CHECK_THROWS_WITH(sched.step(), doctest::Contains("total_steps is 17"));
}

TEST_CASE("WarmupCosineLR: LinearLR(0.25, 5 steps) then cosine (T_max 15, eta_min 1e-4) matches SequentialLR") {
  Tensor p = Tensor::zeros({1}).set_requires_grad(true);
  SGD opt(two_groups(p), 0.9f);
  WarmupCosineLR sched(opt, 5, 20, 0.25, 1e-4);
  std::vector<float> lrs, mom;
  run(opt, 20, [&](int) { sched.step(); }, lrs, mom);
  check_rows("warmup_cosine", lrs, mom, false);
  CHECK(lrs[0] == doctest::Approx(0.025));   // base * start_factor
  CHECK(lrs[2 * 5] == doctest::Approx(0.1)); // the milestone: the cosine starts at base_lr
  CHECK(mom.back() == doctest::Approx(0.9)); // momentum untouched
  // Resuming at a step gives that step's lrs.
  sched.set_last_epoch(12);
  CHECK(opt.param_groups()[0].lr == doctest::Approx(lrs[2 * 12]).epsilon(1e-6));
}

TEST_CASE("ReduceLROnPlateau: factor 0.5, patience 2, threshold 1%, cooldown 1, min_lr per group matches torch") {
  REQUIRE_REFERENCE(path, "schedules.h5");
  H5File f(path, H5File::Mode::Read);
  const std::vector<float> metrics = f.read("plateau/metrics").to_vector();
  Tensor p = Tensor::zeros({1}).set_requires_grad(true);
  SGD opt(two_groups(p));
  ReduceLROnPlateau::Options o;
  o.factor = 0.5;
  o.patience = 2;
  o.threshold = 1e-2;
  o.cooldown = 1;
  o.min_lrs = {0.0, 0.004};
  ReduceLROnPlateau sched(opt, o);
  std::vector<float> lrs, mom;
  run(opt, static_cast<int>(metrics.size()), [&](int i) { sched.step(metrics[i]); }, lrs, mom);
  check_rows("plateau", lrs, mom, false);
  // By hand: 4 reductions of group 0 (0.1 -> 0.00625); group 1 stops at its floor 0.004.
  CHECK(lrs[2 * 20] == doctest::Approx(0.00625));
  CHECK(lrs[2 * 20 + 1] == doctest::Approx(0.004));
}
