// tests/test_recipes.cpp — the training recipes of issue 16 in the library loop: label
// smoothing and soft-target cross-entropy (vs torch), mixup/cutmix (vs timm's formulas and by
// hand), gradient clipping (vs torch.nn.utils.clip_grad_norm_), gradient accumulation (N
// micro-batches = one batch N times larger), per-step schedules in fit(), and the NaN stop.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "autograd/ops.h"
#include "data/datasets.h"
#include "data/loader.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "layers/sequential.h"
#include "layers/soft_targets.h"
#include "optim/adam.h"
#include "optim/clip_grad.h"
#include "optim/scheduler.h"
#include "optim/sgd.h"
#include "tensor/random.h"
#include "testing.h"
#include "layers/batch_norm2d.h"
#include "train/checkpoint.h"
#include "train/class_weights.h"
#include "train/ema.h"
#include "train/fit.h"
#include "train/lr_find.h"
#include "train/mixup.h"

using namespace graft;

namespace {

// CHECK_CLOSE, and with GRAFT_REPORT_ERRORS set, print the worst error (for reports).
void check_ref(const std::string& what, const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  CHECK_CLOSE(what, actual, expected, rtol, atol);
  if (std::getenv("GRAFT_REPORT_ERRORS")) {
    auto c = testing::compare(actual, expected, rtol, atol);
    std::printf("parity %-34s max abs %.3g  max rel %.3g\n", what.c_str(), c.worst_abs, c.worst_rel);
  }
}

Tensor grad_of_loss(const std::function<Tensor(const Tensor&)>& loss, const Tensor& x0, Tensor* value) {
  Tensor x = x0.clone().set_requires_grad(true);
  Tensor l = loss(x);
  l.backward();
  *value = l.detach();
  return x.grad();
}

}  // namespace

// Tolerance for the losses: float32 log-softmax and a sum of 30 terms against torch's float32
// (a different summation order): ~1e-7 relative each; 1e-5 relative + 1e-6 absolute leaves a
// wide margin and still catches a wrong smoothing term (which moves the loss by ~1e-2).
TEST_CASE("cross_entropy_smoothed: label smoothing 0.1 / 0.2 with class weights, mean and sum, matches torch") {
  REQUIRE_REFERENCE(path, "recipes.h5");
  H5File f(path, H5File::Mode::Read);
  struct Case {
    const char* name;
    double eps;
    bool weighted;
    Reduction r;
  };
  for (const Case& c : {Case{"mean", 0.1, false, Reduction::Mean}, Case{"weighted_mean", 0.2, true, Reduction::Mean},
                        Case{"weighted_sum", 0.1, true, Reduction::Sum}}) {
    const std::string k = std::string("label_smoothing_") + c.name;
    const Tensor x = f.read(k + "/x"), t = f.read(k + "/target");
    const Tensor w = c.weighted ? f.read(k + "/weight") : Tensor();
    Tensor loss;
    const Tensor g = grad_of_loss([&](const Tensor& xx) { return cross_entropy_smoothed(xx, t, c.eps, w, c.r); }, x, &loss);
    check_ref(k + " loss", loss, f.read(k + "/loss"), 1e-5, 1e-6);
    check_ref(k + " grad", g, f.read(k + "/grad_x"), 1e-5, 1e-6);
  }
}

TEST_CASE("cross_entropy_smoothed: by hand, and smoothing 0 is cross_entropy") {
  // Two classes, logits (0, 0): lp = log(1/2) for both. Smoothing 0.2 on label 0:
  // 0.8 * log 2 + (0.2 / 2) * (log 2 + log 2) = log 2, whatever the smoothing (uniform prediction).
  Tensor x = Tensor::zeros({1, 2});
  CHECK(cross_entropy_smoothed(x, Tensor::from_labels({0}), 0.2).item() == doctest::Approx(std::log(2.0)));
  // Logits (2, 0): lp = (-0.12693, -2.12693); eps 0.2: 0.8*0.12693 + 0.1*(0.12693+2.12693) = 0.32693.
  Tensor y = Tensor::from_vector({1, 2}, {2, 0});
  CHECK(cross_entropy_smoothed(y, Tensor::from_labels({0}), 0.2).item() == doctest::Approx(0.32693).epsilon(1e-4));
  Tensor z = testing::random_tensor({4, 3}, 5, -2, 2);
  const Tensor t = Tensor::from_labels({0, 2, 1, 1});
  CHECK(cross_entropy_smoothed(z, t, 0).item() == cross_entropy(z, t).item());
  CHECK_THROWS_WITH(cross_entropy_smoothed(z, t, 0.1, Tensor(), Reduction::None), doctest::Contains("not none"));
}

TEST_CASE("soft_target_cross_entropy on timm's mixup targets (lam 0.3, smoothing 0.1) matches timm's loss") {
  REQUIRE_REFERENCE(path, "recipes.h5");
  H5File f(path, H5File::Mode::Read);
  const Tensor x = f.read("soft_target/x"), t = f.read("soft_target/target");
  // The targets: graft's mixup_targets against timm's mixup_target, both float32 of the same
  // few operations: equal to 1 ulp.
  const Tensor q = mixup_targets(t, 5, 0.3, 0.1);
  check_ref("mixup_targets", q, f.read("soft_target/q"), 1e-6, 1e-7);
  Tensor loss;
  const Tensor g = grad_of_loss([&](const Tensor& xx) { return soft_target_cross_entropy(xx, q); }, x, &loss);
  check_ref("soft_target loss", loss, f.read("soft_target/loss"), 1e-5, 1e-6);  // as the smoothing case
  check_ref("soft_target grad", g, f.read("soft_target/grad_x"), 1e-5, 1e-6);
}

TEST_CASE("cutmix_box: the box of timm's rand_bbox, and lam corrected by the clipped area, by hand") {
  // H = W = 10, lam 0.64: sides int(10 * sqrt(0.36)) = 6, half 3.
  // Centre (5, 5): rows [2, 8), cols [2, 8), area 36: lam stays 0.64.
  CutmixBox b = cutmix_box(10, 10, 0.64, 5, 5);
  CHECK((b.y0 == 2 && b.y1 == 8 && b.x0 == 2 && b.x1 == 8));
  CHECK(b.lam == doctest::Approx(0.64));
  // Centre (1, 8): rows clip to [0, 4), cols to [5, 10): area 20 of 100, so lam = 0.8.
  b = cutmix_box(10, 10, 0.64, 1, 8);
  CHECK((b.y0 == 0 && b.y1 == 4 && b.x0 == 5 && b.x1 == 10));
  CHECK(b.lam == doctest::Approx(0.8));
  // H 7, W 12, lam 0.5: cut 4 x 8 (int(4.95), int(8.49)), half 2 x 4; centre (0, 0): [0,2) x [0,4).
  b = cutmix_box(7, 12, 0.5, 0, 0);
  CHECK((b.y0 == 0 && b.y1 == 2 && b.x0 == 0 && b.x1 == 4));
  CHECK(b.lam == doctest::Approx(1 - 8.0 / 84));
}

TEST_CASE("mixup_inputs_ / cutmix_inputs_: sample i pairs with sample N-1-i, by hand") {
  Tensor x = Tensor::from_vector({3, 2}, {1, 2, 3, 4, 5, 6});
  mixup_inputs_(x, 0.25);  // 0.25 * row i + 0.75 * row 2-i
  CHECK(x.to_vector() == std::vector<float>{4, 5, 3, 4, 2, 3});
  Tensor img = Tensor::zeros({2, 1, 3, 3});
  for (int k = 0; k < 9; ++k) img.data()[9 + k] = 1;  // sample 1 all ones, sample 0 all zeros
  cutmix_inputs_(img, CutmixBox{0, 2, 1, 3, 0});
  const std::vector<float> v = img.to_vector();
  CHECK(std::vector<float>(v.begin(), v.begin() + 9) == std::vector<float>{0, 1, 1, 0, 1, 1, 0, 0, 0});
  CHECK(std::vector<float>(v.begin() + 9, v.end()) == std::vector<float>{1, 0, 0, 1, 0, 0, 1, 1, 1});
}

TEST_CASE("Mixup callback: cutmix's lam is the share of pixels kept; draws repeat for (seed, epoch, batch)") {
  Tensor p = Tensor::zeros({1});
  Linear m(1, 1);
  SGD opt(m.parameters(), 0.1f);
  FitState s{m, opt, 1};
  s.epoch = 3;
  MixupOptions o;
  o.cutmix_alpha = 1.0;
  o.seed = 11;
  Mixup mix(o, 4);
  auto batch = [] {
    Batch b;
    b.inputs = Tensor::zeros({4, 1, 16, 16});
    for (int64_t k = 256; k < 512; ++k) b.inputs.data()[k] = 1;  // only sample 1 is ones
    b.labels = Tensor::from_labels({0, 1, 2, 3});
    b.number = 5;
    return b;
  };
  int cut = 0;
  for (int64_t number = 0; number < 8; ++number) {
    Batch b = batch();
    b.number = number;
    mix.on_batch_begin(s, b);
    REQUIRE(mix.last_cutmix);  // cutmix only
    // Sample 2 (pairs with 1) received the box of ones: its sum is the box area.
    double ones = 0;
    for (int64_t k = 512; k < 768; ++k) ones += b.inputs.data()[k];
    CHECK(1 - ones / 256 == doctest::Approx(mix.last_lam));
    // Targets: lam on the own label, 1 - lam on the partner's.
    CHECK(b.targets.to_vector()[2 * 4 + 2] == doctest::Approx(mix.last_lam));
    CHECK(b.targets.to_vector()[2 * 4 + 1] == doctest::Approx(1 - mix.last_lam));
    cut += mix.last_lam < 1;
  }
  CHECK(cut > 4);  // Beta(1, 1) is uniform: a box of zero area is rare
  Batch a = batch(), b = batch();
  mix.on_batch_begin(s, a);
  const double lam = mix.last_lam;
  mix.on_batch_begin(s, b);
  CHECK(mix.last_lam == lam);
  CHECK_CLOSE("same draw, same batch", a.inputs, b.inputs, 0, 0);
  // prob 0: never mixed, but the targets still carry the label smoothing (timm's mixup_target).
  o.prob = 0;
  o.label_smoothing = 0.1;
  Mixup off(o, 4);
  Batch c = batch();
  off.on_batch_begin(s, c);
  CHECK(off.last_lam == 1);
  CHECK(c.targets.to_vector()[0] == doctest::Approx(0.925));  // 1 - 0.1 + 0.1 / 4
  CHECK(c.targets.to_vector()[1] == doctest::Approx(0.025));
}

TEST_CASE("clip_grad_norm_: total 2-norm over the parameters and the clipped gradients match torch") {
  REQUIRE_REFERENCE(path, "recipes.h5");
  H5File f(path, H5File::Mode::Read);
  const Tensor g0 = f.read("clip_grad/g0"), g1 = f.read("clip_grad/g1");
  Tensor p0 = Tensor::zeros({3, 4}).set_requires_grad(true), p1 = Tensor::zeros({5}).set_requires_grad(true);
  Tensor frozen = Tensor::zeros({2});  // no gradient: left out
  (sum(p0 * g0) + sum(p1 * g1)).backward();  // d/dp sum(p * g) = g exactly
  const double total = clip_grad_norm_({p0, p1, frozen}, 0.5);
  // Tolerance: the norm is a sum of 17 squares (torch: per tensor in float, then the norm of
  // the norms; graft: in double): ~1e-7 relative.
  check_ref("clip_grad total norm", Tensor::scalar(static_cast<float>(total)), f.read("clip_grad/total_norm"), 1e-6, 0);
  check_ref("clip_grad g0", p0.grad(), f.read("clip_grad/g0_clipped"), 1e-6, 1e-8);
  check_ref("clip_grad g1", p1.grad(), f.read("clip_grad/g1_clipped"), 1e-6, 1e-8);
  CHECK(grad_norm({p0, p1}) == doctest::Approx(0.5).epsilon(1e-5));
  // Under the limit: untouched.
  const Tensor before = p0.grad().clone();
  clip_grad_norm_({p0, p1}, 10);
  CHECK_CLOSE("not clipped", p0.grad(), before, 0, 0);
}

// ---- in the loop ------------------------------------------------------------------------
namespace {

// 24 points in 3 classes from a fixed seed.
std::shared_ptr<TensorDataset> toy_data() {
  Tensor x = testing::random_tensor({24, 4}, 21, -2, 2);
  std::vector<int64_t> y;
  const std::vector<float> v = x.to_vector();
  for (int64_t i = 0; i < 24; ++i) y.push_back(v[4 * i] > 0.5f ? 2 : v[4 * i + 1] > 0 ? 1 : 0);
  return std::make_shared<TensorDataset>(x, y, std::vector<std::string>{}, std::vector<std::string>{"a", "b", "c"});
}

std::unique_ptr<DataLoader> loader(std::shared_ptr<TensorDataset> d, int64_t batch) {
  LoaderOptions o;
  o.batch_size = batch;
  o.shuffle = true;  // the order is a function of (seed, epoch), not of the batch size
  o.seed = 3;
  o.num_workers = 0;
  return std::make_unique<DataLoader>(d, Pipeline(), o);
}

const LossFn kCrossEntropy = [](const Tensor& out, const Tensor& y) { return cross_entropy(out, y); };

struct StepCounter : Callback {
  int64_t steps = 0;
  void on_step_end(FitState&) override { ++steps; }
};

}  // namespace

TEST_CASE("fit: accumulate 3 micro-batches of 4 equals batches of 12 (no batch norm), clipping included") {
  auto data = toy_data();
  auto run = [&](int64_t batch, int64_t accumulate, double clip) {
    manual_seed(8);
    Sequential model{std::make_shared<Linear>(4, 6), std::make_shared<Linear>(6, 3)};
    SGD opt(model.parameters(), 0.3f, 0.9f);
    auto train = loader(data, batch);
    StepCounter steps;
    FitOptions fo;
    fo.epochs = 4;
    fo.accumulate = accumulate;
    fo.clip_grad_norm = clip;
    fit(model, opt, kCrossEntropy, *train, nullptr, fo, {&steps});
    return std::make_pair(model.state_dict(), steps.steps);
  };
  for (double clip : {0.0, 0.5}) {
    CAPTURE(clip);
    const auto [big, big_steps] = run(12, 1, clip);
    const auto [micro, micro_steps] = run(4, 3, clip);
    CHECK(big_steps == 8);  // 2 steps per epoch
    CHECK(micro_steps == 8);
    // Tolerance: the same math with the gradients summed in another order (3 partial GEMMs
    // times B_i, then / 12, against one GEMM divided by 12): ~1e-7 relative per step, carried
    // through 8 momentum steps of lr 0.3 — measured worst 2.4e-7 absolute (weights ~0.5; the
    // largest relative error, 1.7e-5, is on a weight near 0), so 1e-5 relative + 1e-6 absolute.
    // An unscaled sum (3x the gradient) or a step per micro-batch moves weights by > 1e-2.
    for (size_t i = 0; i < big.size(); ++i) CHECK_CLOSE(big[i].first, micro[i].second, big[i].second, 1e-5, 1e-6);
    if (std::getenv("GRAFT_REPORT_ERRORS"))
      for (size_t i = 0; i < big.size(); ++i) {
        auto c = testing::compare(micro[i].second, big[i].second, 1e-5, 1e-6);
        std::printf("accumulate clip %.1f %-10s max abs %.3g  max rel %.3g\n", clip, big[i].first.c_str(), c.worst_abs,
                    c.worst_rel);
      }
  }
  // 24 samples in batches of 5 = 5 batches; accumulate 2: steps after batches 2, 4 and 5.
  manual_seed(8);
  Linear model(4, 3);
  SGD opt(model.parameters(), 0.1f);
  auto train = loader(data, 5);
  StepCounter steps;
  FitOptions fo;
  fo.epochs = 1;
  fo.accumulate = 2;
  fit(model, opt, kCrossEntropy, *train, nullptr, fo, {&steps});
  CHECK(steps.steps == 3);
  CHECK(steps_per_epoch(*train, 2) == 3);
}

TEST_CASE("fit: a per-step OneCycleLR runs exactly total_steps = epochs * steps_per_epoch") {
  auto data = toy_data();
  manual_seed(9);
  Linear model(4, 3);
  SGD opt(model.parameters(), 0.1f, 0.9f);
  auto train = loader(data, 5);
  OneCycleLR::Options o;
  o.total_steps = 3 * steps_per_epoch(*train, 2);  // 3 epochs of 3 steps
  OneCycleLR sched(opt, 0.2, o);
  SchedulePerStep per_step(sched);
  struct LrOfEachStep : Callback {  // before per_step in the list: the lr the step used
    Optimizer* opt;
    std::vector<double> lrs;
    void on_step_end(FitState&) override { lrs.push_back(opt->param_groups()[0].lr); }
  } used;
  used.opt = &opt;
  FitOptions fo;
  fo.epochs = 3;
  fo.accumulate = 2;
  fit(model, opt, kCrossEntropy, *train, nullptr, fo, {&used, &per_step});
  CHECK(sched.last_epoch() == 9);
  REQUIRE(used.lrs.size() == 9);
  CHECK(used.lrs.front() == doctest::Approx(0.2 / 25));     // max_lr / div_factor
  CHECK(used.lrs.back() == doctest::Approx(0.2 / 25 / 1e4));  // ... / final_div_factor at step total - 1
  CHECK(*std::max_element(used.lrs.begin(), used.lrs.end()) < 0.2);  // 9 steps: the peak at 1.7 falls between steps
}

TEST_CASE("fit: a NaN or infinite loss stops the run before its step, naming the epoch, batch and lr") {
  auto data = toy_data();
  manual_seed(10);
  Linear model(4, 3);
  SGD opt(model.parameters(), 1e38f);  // absurd: after the first step the logits overflow to +-inf
  auto train = loader(data, 5);
  std::vector<Tensor> after_step;
  LambdaCallback keep;
  keep.batch_end = [&](FitState&, const Batch&, const StepResult&) { after_step = {model.weight.clone()}; };
  FitOptions fo;
  fo.epochs = 3;
  try {
    fit(model, opt, kCrossEntropy, *train, nullptr, fo, {&keep});
    FAIL("fit did not stop");
  } catch (const NonFiniteLoss& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("the training loss is NaN at epoch ") != std::string::npos);
    CHECK(m.find(", batch ") != std::string::npos);
    CHECK(m.find("lr 1e+38") != std::string::npos);
    CHECK(m.find("the last after epoch ") != std::string::npos);
  }
  // The weights are those of the last step with a finite loss (no step on the bad batch).
  REQUIRE(!after_step.empty());
  CHECK_CLOSE("weights kept", model.weight, after_step[0], 0, 0);
}

TEST_CASE("fit: OneCycleLR + mixup + accumulation stopped after 2 epochs and resumed equals 4 epochs straight") {
  testing::TempDir dir("recipes_resume");
  auto data = toy_data();
  auto run = [&](int64_t first, bool resume) {
    manual_seed(12);
    Sequential model{std::make_shared<Linear>(4, 6), std::make_shared<Linear>(6, 3)};
    Adam opt(model.parameters(), 0.05f);  // beta1 cycles: state the schedule must restore
    auto train = loader(data, 5);
    MixupOptions mo;
    mo.mixup_alpha = 0.4;
    mo.label_smoothing = 0.1;
    mo.seed = 5;
    Mixup mix(mo, 3);
    const LossFn soft = [](const Tensor& out, const Tensor& q) { return soft_target_cross_entropy(out, q); };
    OneCycleLR::Options o;
    o.total_steps = 4 * steps_per_epoch(*train, 2);  // the whole run's cycle: 4 epochs
    OneCycleLR sched(opt, 0.05, o);
    SchedulePerStep per_step(sched);
    FitOptions fo;
    fo.epochs = first;
    fo.accumulate = 2;
    FitProgress p = fit(model, opt, soft, *train, nullptr, fo, {&mix, &per_step});
    if (!resume) return model.state_dict()[0].second.clone();
    TrainingState st;
    st.architecture = "toy";
    st.progress = p;
    save_training_checkpoint(dir.file("last.h5"), model, &opt, st, {{"default", &default_generator()}});
    manual_seed(99);  // "a new process"
    Sequential fresh{std::make_shared<Linear>(4, 6), std::make_shared<Linear>(6, 3)};
    Adam opt2(fresh.parameters(), 0.05f);
    const TrainingState back =
        load_training_checkpoint(dir.file("last.h5"), "toy", fresh, &opt2, {{"default", &default_generator()}});
    OneCycleLR sched2(opt2, 0.05, o);
    sched2.set_last_epoch(back.progress.epoch * steps_per_epoch(*train, 2));
    SchedulePerStep per_step2(sched2);
    fo.epochs = 4;
    fo.progress = back.progress;
    fit(fresh, opt2, soft, *train, nullptr, fo, {&mix, &per_step2});
    return fresh.state_dict()[0].second.clone();
  };
  const Tensor straight = run(4, false), resumed = run(2, true);
  CHECK_CLOSE("weights", resumed, straight, 0, 0);  // the same draws, lrs, betas and updates: exact
}

TEST_CASE("ModelEma: ema = d * ema + (1 - d) * w after every step, from a copy of the model (the formula)") {
  auto data = toy_data();
  manual_seed(13);
  Linear model(4, 3);
  SGD opt(model.parameters(), 0.2f, 0.9f);
  auto train = loader(data, 5);
  const double d = 0.7;  // far from 1, so that every step shows
  ModelEma ema(model, d);
  struct Record : Callback {
    Linear* m;
    std::vector<std::vector<float>> w;
    void on_fit_begin(FitState&) override { w.push_back(m->weight.to_vector()); }
    void on_step_end(FitState&) override { w.push_back(m->weight.to_vector()); }
  } rec;
  rec.m = &model;
  FitOptions fo;
  fo.epochs = 2;
  fit(model, opt, kCrossEntropy, *train, nullptr, fo, {&rec, &ema});
  REQUIRE(rec.w.size() == 1 + 2 * 5);
  std::vector<double> e(rec.w[0].begin(), rec.w[0].end());
  for (size_t k = 1; k < rec.w.size(); ++k)
    for (size_t i = 0; i < e.size(); ++i) e[i] = d * e[i] + (1 - d) * rec.w[k][i];
  const std::vector<float> ef(e.begin(), e.end());
  // Tolerance: graft's float32 update against the double formula: ~1 float ulp per step of
  // values < 1, over 10 steps: < 1e-6.
  CHECK_CLOSE("ema weight", ema.average()[0].second, Tensor::from_vector({3, 4}, ef), 0, 1e-6);
  CHECK(ema.average()[0].first == "weight");
  // with_average runs on the average and puts the live weights back.
  const Tensor live = model.weight.clone();
  ema.with_average([&] { CHECK_CLOSE("inside", model.weight, ema.average()[0].second, 0, 0); });
  CHECK_CLOSE("restored", model.weight, live, 0, 0);
}

TEST_CASE("ModelEma: buffers (batch norm statistics) are copied, parameters averaged") {
  BatchNorm2d bn(2);
  ModelEma ema(bn, 0.5);
  ema.capture_average([] {});
  bn.weight.fill_(3);                                             // was 1
  Tensor mean = bn.running_mean;
  mean.copy_(Tensor::from_vector({2}, {5, 6}));                    // was 0
  ema.update();
  for (const auto& [k, t] : ema.average()) {
    if (k == "weight") CHECK(t.to_vector() == std::vector<float>{2, 2});    // 0.5 * 1 + 0.5 * 3
    if (k == "running_mean") CHECK(t.to_vector() == std::vector<float>{5, 6});  // copied
  }
}

TEST_CASE("balanced_class_weights: sklearn's compute_class_weight('balanced') = n / (classes * count), by hand") {
  // Labels 6 x class 0, 2 x class 1, 4 x class 2: n = 12, 3 classes.
  std::vector<int64_t> y = {0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2};
  TensorDataset ds(Tensor::zeros({12, 1}), y, std::vector<std::string>{}, std::vector<std::string>{"a", "b", "c"});
  const std::vector<int64_t> counts = class_counts(ds);
  CHECK(counts == std::vector<int64_t>{6, 2, 4});
  const std::vector<float> w = balanced_class_weights(counts);
  CHECK(w[0] == doctest::Approx(12.0 / (3 * 6)));  // 0.667
  CHECK(w[1] == doctest::Approx(12.0 / (3 * 2)));  // 2
  CHECK(w[2] == doctest::Approx(12.0 / (3 * 4)));  // 1
  // Each class carries the same total weight: count * w = n / classes = 4.
  for (size_t c = 0; c < 3; ++c) CHECK(counts[c] * w[c] == doctest::Approx(4.0));
  CHECK(balanced_class_weights({5, 5}) == std::vector<float>{1, 1});
  CHECK_THROWS_WITH(balanced_class_weights({3, 0}, {"cat", "dog"}), doctest::Contains("class 'dog' has no training sample"));
}

TEST_CASE("fit: ScheduleOnPlateau halves the lr after `patience` epochs without a relative 1e-4 improvement") {
  // lr 1e-7: the validation loss moves by ~1e-8 relative per epoch, below the threshold, so
  // only epoch 1 is an improvement (over +inf). Patience 1: epochs 2, 3 are bad -> reduce after
  // epoch 3; the counter restarts: epochs 4, 5 -> reduce after epoch 5.
  auto data = toy_data();
  manual_seed(14);
  Linear model(4, 3);
  SGD opt(model.parameters(), 1e-7f);
  auto train = loader(data, 8), valid = loader(data, 8);
  ReduceLROnPlateau::Options o;
  o.patience = 1;
  o.factor = 0.5;
  ReduceLROnPlateau plateau(opt, o);
  ScheduleOnPlateau cb(plateau);
  FitOptions fo;
  fo.epochs = 5;
  const FitProgress p = fit(model, opt, kCrossEntropy, *train, valid.get(), fo, {&cb});
  REQUIRE(p.history.size() == 5);
  CHECK(p.history[3].lr == doctest::Approx(5e-8));   // epoch 4 runs at the halved lr
  CHECK(opt.param_groups()[0].lr == doctest::Approx(2.5e-8));
}

TEST_CASE("balanced sampler: LoaderOptions::sample_weights draws classes equally often, repeatably per (seed, epoch)") {
  // 90 samples of class 0, 10 of class 1: weights 1/90 and 1/10, so each class has P = 1/2.
  std::vector<int64_t> y(100, 0);
  for (int i = 90; i < 100; ++i) y[i] = 1;
  std::vector<float> x(100);
  for (int i = 0; i < 100; ++i) x[i] = static_cast<float>(i);
  auto ds = std::make_shared<TensorDataset>(Tensor::from_vector({100, 1}, x), y, std::vector<std::string>{},
                                            std::vector<std::string>{"common", "rare"});
  LoaderOptions o;
  o.batch_size = 25;
  o.num_workers = 0;
  o.seed = 4;
  o.sample_weights = balanced_sample_weights(*ds);
  DataLoader l(ds, Pipeline(), o);
  int64_t rare = 0, total = 0;
  std::vector<std::vector<int64_t>> first_epoch;
  for (int64_t epoch = 1; epoch <= 40; ++epoch)
    l.for_each_batch(epoch, [&](Batch& b) {
      for (int64_t v : b.labels.to_labels()) rare += v, ++total;
      if (epoch == 1) first_epoch.push_back(b.indices);
    });
  CHECK(total == 40 * 100);  // an epoch is still size() samples
  // Binomial(4000, 1/2): standard deviation 0.8%; 4% is 5 of them (and the draw is fixed by the seed).
  CHECK(static_cast<double>(rare) / static_cast<double>(total) == doctest::Approx(0.5).epsilon(0.08));
  // The same (seed, epoch): the same draw.
  std::vector<std::vector<int64_t>> again;
  l.for_each_batch(1, [&](Batch& b) { again.push_back(b.indices); });
  CHECK(again == first_epoch);
}

TEST_CASE("lr_find: the suggestions fall where training is known to work; the weights and state come back") {
  auto data = toy_data();
  // Where training works on this problem, measured independently: 3 epochs of SGD momentum 0.9
  // (the optimizer lr_find runs with) from the same start, "works" = the mean loss of the last
  // epoch below 0.8 of the first epoch's; scanned at lrs 1e-4 .. 1e2, 2 per decade.
  auto trained_ok = [&](double lr) {
    manual_seed(15);
    Linear m(4, 3);
    SGD opt(m.parameters(), static_cast<float>(lr), 0.9f);
    auto train = loader(data, 5);
    FitOptions fo;
    fo.epochs = 3;
    try {
      const FitProgress p = fit(m, opt, kCrossEntropy, *train, nullptr, fo);
      return p.history.back().train_loss < 0.8 * p.history.front().train_loss;
    } catch (const NonFiniteLoss&) {
      return false;
    }
  };
  double lo = 0, hi = 0;
  for (double lr = 1e-4; lr <= 1e2; lr *= std::sqrt(10.0))
    if (trained_ok(lr)) {
      if (lo == 0) lo = lr;
      hi = lr;
    }
  REQUIRE(lo > 0);
  MESSAGE("training works for lr in [" << lo << ", " << hi << "]");

  manual_seed(15);
  Linear m(4, 3);
  SGD opt(m.parameters(), 0.05f, 0.9f);
  auto train = loader(data, 5);
  const Tensor before = m.weight.clone();
  LrFindOptions o;
  o.start_lr = 1e-4;
  o.end_lr = 1e2;
  o.steps = 80;
  const LrFindResult r = lr_find(m, opt, kCrossEntropy, *train, Device::CPU, o);
  MESSAGE("steepest " << r.steepest_lr << ", minimum/10 " << r.min_lr_div10 << ", " << r.lrs.size() << " steps");
  CHECK(r.diverged);  // an lr of 100 on this problem blows up before the end
  // Inside the scanned range (to its grid: each edge lies within a factor sqrt(10) beyond), and
  // training at the suggestion itself works.
  CHECK((r.steepest_lr >= lo / std::sqrt(10.0) && r.steepest_lr <= hi * std::sqrt(10.0)));
  CHECK((r.min_lr_div10 >= lo / std::sqrt(10.0) && r.min_lr_div10 <= hi * std::sqrt(10.0)));
  CHECK(trained_ok(r.steepest_lr));
  CHECK(trained_ok(r.min_lr_div10));
  // Nothing left behind: weights, lr, momentum buffers (a fresh start: none).
  CHECK_CLOSE("weights back", m.weight, before, 0, 0);
  CHECK(opt.param_groups()[0].lr == 0.05f);
  CHECK(opt.state().size() == 2);  // only param_groups.0.lr / weight_decay: no momentum state
}
