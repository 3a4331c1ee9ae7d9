// tests/test_loss.cpp — losses: finite differences, PyTorch references, stability, bad input.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "autograd/ops.h"
#include "layers/loss.h"
#include "testing.h"

using namespace graft;

namespace {
const Reduction kReductions[] = {Reduction::Mean, Reduction::Sum, Reduction::None};

// Reduces a loss to a scalar for gradcheck: None is weighted by a random tensor so that a
// permuted per-sample gradient fails; Mean/Sum are already scalars.
Tensor to_scalar(const Tensor& loss, Reduction r, uint64_t seed) {
  if (r != Reduction::None) return loss;
  return sum(loss * testing::random_tensor(loss.shape(), seed));
}

void expect_gradcheck(const std::function<Tensor(const Tensor&)>& f, const Tensor& x) {
  auto res = testing::gradcheck([&](const std::vector<Tensor>& in) { return f(in[0]); }, {x});
  INFO(res.message);
  CHECK(res.ok);
}
}  // namespace

// ---- finite differences ----------------------------------------------------------------
// Default gradcheck tolerances (2e-2 relative, 2e-3 absolute) are those of testing.h: central
// differences of float32 evaluations with eps 1e-2 (see the note there); all these losses are
// smooth at the points tested.

TEST_CASE("cross_entropy: finite-difference gradients (mean/sum/none, with and without class weights)") {
  Tensor target = Tensor::from_labels({2, 0, 3, 3});
  Tensor weight = testing::random_tensor({4}, 11, 0.2f, 2.0f);
  for (Reduction r : kReductions)
    for (bool weighted : {false, true}) {
      CAPTURE(reduction_name(r));
      CAPTURE(weighted);
      expect_gradcheck(
          [&](const Tensor& x) { return to_scalar(cross_entropy(x, target, weighted ? weight : Tensor(), r), r, 12); },
          testing::random_tensor({4, 4}, 10, -2, 2));
    }
}

TEST_CASE("nll_loss: finite-difference gradients (mean/sum/none, with and without class weights)") {
  Tensor target = Tensor::from_labels({1, 0, 2});
  Tensor weight = testing::random_tensor({3}, 21, 0.2f, 2.0f);
  for (Reduction r : kReductions)
    for (bool weighted : {false, true}) {
      CAPTURE(reduction_name(r));
      CAPTURE(weighted);
      expect_gradcheck(
          [&](const Tensor& x) { return to_scalar(nll_loss(x, target, weighted ? weight : Tensor(), r), r, 22); },
          testing::random_tensor({3, 3}, 20, -3, 0));
    }
}

TEST_CASE("bce_loss: finite-difference gradients (mean/sum/none, with and without weights)") {
  Tensor target = testing::random_tensor({2, 3}, 31, 0, 1);  // soft targets exercise both terms
  Tensor weight = testing::random_tensor({2, 3}, 32, 0.2f, 2.0f);
  for (Reduction r : kReductions)
    for (bool weighted : {false, true}) {
      CAPTURE(reduction_name(r));
      CAPTURE(weighted);
      // probabilities in [0.2, 0.8]: p +- eps stays inside (0, 1), away from the clamp
      expect_gradcheck(
          [&](const Tensor& p) { return to_scalar(bce_loss(p, target, weighted ? weight : Tensor(), r), r, 33); },
          testing::random_tensor({2, 3}, 30, 0.2f, 0.8f));
    }
}

TEST_CASE("bce_with_logits: finite-difference gradients (mean/sum/none, with and without pos_weight)") {
  Tensor target = testing::random_tensor({2, 3}, 41, 0, 1);
  Tensor pos_weight = testing::random_tensor({3}, 42, 0.5f, 3.0f);
  for (Reduction r : kReductions)
    for (bool weighted : {false, true}) {
      CAPTURE(reduction_name(r));
      CAPTURE(weighted);
      expect_gradcheck(
          [&](const Tensor& x) {
            return to_scalar(bce_with_logits(x, target, weighted ? pos_weight : Tensor(), r), r, 43);
          },
          testing::random_tensor({2, 3}, 40, -3, 3));
    }
}

// ---- PyTorch references ----------------------------------------------------------------
namespace {
using LossFn = Tensor (*)(const Tensor&, const Tensor&, const Tensor&, Reduction);

// Runs one case of losses.h5: the loss and dL/dx against torch.nn.functional.
// Tolerance: float32 inputs; graft accumulates in double, PyTorch in float over at most 12
// terms, and log/exp differ by an ulp or two between libms -> 1e-5 relative, 1e-6 absolute.
void check_reference(const H5File& f, const std::string& name, LossFn fn, Reduction r,
                     const char* weight_key = "weight") {
  CAPTURE(name);
  Tensor x = f.read(name + "/x").set_requires_grad(true);
  Tensor target = f.read(name + "/target");
  Tensor w = f.contains(name + "/" + weight_key) ? f.read(name + "/" + weight_key) : Tensor();
  Tensor loss = fn(x, target, w, r);
  CHECK_CLOSE((name + " loss"), loss, f.read(name + "/loss"), 1e-5, 1e-6);
  if (r == Reduction::None)
    loss.backward(f.read(name + "/grad_loss"));
  else
    loss.backward();
  CHECK_CLOSE((name + " grad_x"), x.grad(), f.read(name + "/grad_x"), 1e-5, 1e-6);
  if (std::getenv("GRAFT_REPORT_ERRORS")) {  // worst errors, for reports
    auto cl = testing::compare(loss, f.read(name + "/loss"), 1e-5, 1e-6);
    auto cg = testing::compare(x.grad(), f.read(name + "/grad_x"), 1e-5, 1e-6);
    std::printf("parity %-28s loss max abs %.3g rel %.3g | grad max abs %.3g rel %.3g\n", name.c_str(), cl.worst_abs,
                cl.worst_rel, cg.worst_abs, cg.worst_rel);
  }
}
}  // namespace

TEST_CASE("cross_entropy and nll_loss: match torch (mean/sum/none, class weights)") {
  REQUIRE_REFERENCE(path, "losses.h5");
  H5File f(path, H5File::Mode::Read);
  for (Reduction r : kReductions) {
    const std::string s = reduction_name(r);
    check_reference(f, "ce_" + s, &cross_entropy, r);
    check_reference(f, "ce_weighted_" + s, &cross_entropy, r);
    check_reference(f, "nll_" + s, &nll_loss, r);
    check_reference(f, "nll_weighted_" + s, &nll_loss, r);
  }
}

TEST_CASE("cross_entropy: logits of 1000 stay finite and match torch") {
  REQUIRE_REFERENCE(path, "losses.h5");
  H5File f(path, H5File::Mode::Read);
  check_reference(f, "ce_large_mean", &cross_entropy, Reduction::Mean);
  check_reference(f, "ce_large_none", &cross_entropy, Reduction::None);
}

TEST_CASE("bce_loss and bce_with_logits: match torch (mean/sum/none, weights, pos_weight)") {
  REQUIRE_REFERENCE(path, "losses.h5");
  H5File f(path, H5File::Mode::Read);
  for (Reduction r : kReductions) {
    const std::string s = reduction_name(r);
    check_reference(f, "bce_" + s, &bce_loss, r);
    check_reference(f, "bce_weighted_" + s, &bce_loss, r);
    check_reference(f, "bcel_" + s, &bce_with_logits, r, "pos_weight");
    check_reference(f, "bcel_pos_weight_" + s, &bce_with_logits, r, "pos_weight");
  }
}

TEST_CASE("bce_loss clamps log at -100 and bce_with_logits is stable at +-100, as torch") {
  REQUIRE_REFERENCE(path, "losses.h5");
  H5File f(path, H5File::Mode::Read);
  check_reference(f, "bce_clamp_sum", &bce_loss, Reduction::Sum);
  check_reference(f, "bcel_large_none", &bce_with_logits, Reduction::None, "pos_weight");
  check_reference(f, "bcel_large_pos_weight_mean", &bce_with_logits, Reduction::Mean, "pos_weight");
}

// ---- hand-worked values ----------------------------------------------------------------
TEST_CASE("cross_entropy: uniform logits give log(L); weighted mean divides by the target weights") {
  // All logits equal: softmax = 1/L, loss = log L for every row.
  Tensor x = Tensor::zeros({2, 4});
  CHECK(cross_entropy(x, Tensor::from_labels({1, 3})).item() == doctest::Approx(std::log(4.0)).epsilon(1e-6));
  // weighted: (w1 log4 + w3 log4) / (w1 + w3) = log 4, and Sum gives (w1 + w3) log 4.
  Tensor w = Tensor::from_vector({4}, {1, 2, 3, 5});
  CHECK(cross_entropy(x, Tensor::from_labels({1, 3}), w).item() == doctest::Approx(std::log(4.0)).epsilon(1e-6));
  CHECK(cross_entropy(x, Tensor::from_labels({1, 3}), w, Reduction::Sum).item() ==
        doctest::Approx(7 * std::log(4.0)).epsilon(1e-6));
}

// ---- bad input -------------------------------------------------------------------------
TEST_CASE("losses: out-of-range labels name the label and the number of classes") {
  Tensor x = Tensor::zeros({3, 5});
  CHECK_THROWS_WITH(cross_entropy(x, Tensor::from_labels({0, 7, 1})), doctest::Contains("= 7"));
  CHECK_THROWS_WITH(cross_entropy(x, Tensor::from_labels({0, 7, 1})), doctest::Contains("5 classes"));
  CHECK_THROWS_WITH(nll_loss(x, Tensor::from_labels({-1, 0, 1})), doctest::Contains("= -1"));
}

TEST_CASE("losses: wrong target dtypes and shapes say what was expected") {
  Tensor x = Tensor::zeros({3, 5});
  CHECK_THROWS_WITH(cross_entropy(x, Tensor::zeros({3})), doctest::Contains("Int64"));
  CHECK_THROWS_WITH(nll_loss(x, Tensor::zeros({3})), doctest::Contains("Int64"));
  CHECK_THROWS_WITH(cross_entropy(x, Tensor::from_labels({0, 1})), doctest::Contains("[2]"));
  CHECK_THROWS_WITH(cross_entropy(x, Tensor::from_labels({0, 1, 2}), Tensor::ones({4})), doctest::Contains("[5]"));
  CHECK_THROWS_WITH(bce_with_logits(x, Tensor::from_labels({0, 1, 2})), doctest::Contains("float32"));
  CHECK_THROWS_WITH(bce_with_logits(x, Tensor::zeros({3, 4})), doctest::Contains("[3, 4]"));
  CHECK_THROWS_WITH(bce_with_logits(x, Tensor::zeros({3, 4})), doctest::Contains("[3, 5]"));
  CHECK_THROWS_WITH(bce_with_logits(x, Tensor::zeros({3, 5}), Tensor::ones({3})), doctest::Contains("[5]"));
  CHECK_THROWS_WITH(bce_loss(Tensor::full({2}, 1.5f), Tensor::zeros({2})), doctest::Contains("[0, 1]"));
}
