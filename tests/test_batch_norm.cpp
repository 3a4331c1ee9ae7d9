// tests/test_batch_norm.cpp — batch_norm2d / BatchNorm2d: finite differences, hand-worked
// statistics, PyTorch references (tools/references/layers_b.py) and module behaviour.
#include <cmath>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "layers/batch_norm2d.h"
#include "testing.h"

using namespace graft;

namespace {
// CHECK_CLOSE, and print the worst error so the parity reached shows in the test log.
void check_ref(const char* what, const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  CHECK_CLOSE(what, actual, expected, rtol, atol);
  auto c = testing::compare(actual, expected, rtol, atol);
  MESSAGE("parity " << std::string(what) << ": max abs err " << c.worst_abs << ", max rel err " << c.worst_rel);
}
}  // namespace

TEST_CASE("batch_norm2d: finite-difference gradients in training mode (x, weight, bias)") {
  auto x = testing::random_tensor({2, 3, 2, 2}, 11), w = testing::random_tensor({3}, 12, 0.5f, 1.5f);
  auto b = testing::random_tensor({3}, 13), g = testing::random_tensor({2, 3, 2, 2}, 14);
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  // sum(bn(x)) has zero gradient wrt x (the mean is subtracted), so weight the outputs by a
  // random g: then the batch-statistics terms of dx are exercised, and a permuted grad fails.
  auto r = testing::gradcheck(
      [&](const std::vector<Tensor>& in) { return sum(batch_norm2d(in[0], in[1], in[2], rm, rv, true, 0.1f, 1e-5f) * g); },
      {x, w, b});
  INFO(r.message);
  CHECK(r.ok);
}

TEST_CASE("batch_norm2d: finite-difference gradients in eval mode (x, weight, bias)") {
  auto x = testing::random_tensor({2, 3, 2, 2}, 21), w = testing::random_tensor({3}, 22, 0.5f, 1.5f);
  auto b = testing::random_tensor({3}, 23), g = testing::random_tensor({2, 3, 2, 2}, 24);
  Tensor rm = testing::random_tensor({3}, 25), rv = testing::random_tensor({3}, 26, 0.5f, 1.5f);
  auto r = testing::gradcheck(
      [&](const std::vector<Tensor>& in) { return sum(batch_norm2d(in[0], in[1], in[2], rm, rv, false, 0.1f, 1e-5f) * g); },
      {x, w, b});
  INFO(r.message);
  CHECK(r.ok);
}

TEST_CASE("batch_norm2d: hand-worked statistics of one channel") {
  // x = 1, 2, 3, 4: mean 2.5, biased variance 1.25 (normalizes), unbiased 5/3 (running_var).
  Tensor x = Tensor::from_vector({2, 1, 1, 2}, {1, 2, 3, 4});
  Tensor w = Tensor::ones({1}), b = Tensor::zeros({1}), rm = Tensor::zeros({1}), rv = Tensor::ones({1});
  Tensor y = batch_norm2d(x, w, b, rm, rv, true, 0.1f, 1e-5f);
  const float s = 1.0f / std::sqrt(1.25f + 1e-5f);
  // float32 arithmetic on values of size ~1: agreement to a few ulps.
  CHECK_CLOSE("y", y, Tensor::from_vector({2, 1, 1, 2}, {-1.5f * s, -0.5f * s, 0.5f * s, 1.5f * s}), 1e-6, 1e-6);
  CHECK_CLOSE("running_mean", rm, Tensor::from_vector({1}, {0.1f * 2.5f}), 1e-6, 1e-7);
  CHECK_CLOSE("running_var", rv, Tensor::from_vector({1}, {0.9f + 0.1f * 5.0f / 3.0f}), 1e-6, 1e-7);
  // Eval mode with these running stats: y = (x - 0.25) / sqrt(v + eps), stats untouched.
  const float v = 0.9f + 0.1f * 5.0f / 3.0f, se = 1.0f / std::sqrt(v + 1e-5f);
  Tensor ye = batch_norm2d(x, w, b, rm, rv, false, 0.1f, 1e-5f);
  CHECK_CLOSE("eval y", ye, Tensor::from_vector({2, 1, 1, 2}, {0.75f * se, 1.75f * se, 2.75f * se, 3.75f * se}), 1e-6, 1e-6);
  CHECK_CLOSE("eval leaves running_mean", rm, Tensor::from_vector({1}, {0.25f}), 1e-6, 1e-7);
}

TEST_CASE("batch_norm2d: matches torch.nn.BatchNorm2d in training mode, running stats, and eval mode") {
  REQUIRE_REFERENCE(path, "layers_b.h5");
  H5File f(path, H5File::Mode::Read);
  BatchNorm2d bn(3, 1e-3f, 0.3f);  // the reference uses these non-default values
  bn.weight.copy_(f.read("batch_norm2d/weight"));
  bn.bias.copy_(f.read("batch_norm2d/bias"));
  bn.running_mean.copy_(f.read("batch_norm2d/running_mean0"));
  bn.running_var.copy_(f.read("batch_norm2d/running_var0"));

  Tensor x = f.read("batch_norm2d/x").set_requires_grad(true);
  Tensor y = bn(x);
  // Per-channel statistics over 100 values, accumulated in double here and in PyTorch; the
  // remaining differences are float32 rounding of O(1) values (~1e-7), so 1e-5 has margin.
  check_ref("batch_norm2d y", y, f.read("batch_norm2d/y"), 1e-5, 1e-5);
  y.backward(f.read("batch_norm2d/grad_y"));
  // Gradients are sums of 100 products (grad_weight/bias) or differences of such sums
  // (grad_x): float32 summation order differences of ~1e-6 relative to the terms.
  check_ref("batch_norm2d grad_x", x.grad(), f.read("batch_norm2d/grad_x"), 1e-4, 1e-5);
  check_ref("batch_norm2d grad_weight", bn.weight.grad(), f.read("batch_norm2d/grad_weight"), 1e-5, 1e-5);
  check_ref("batch_norm2d grad_bias", bn.bias.grad(), f.read("batch_norm2d/grad_bias"), 1e-5, 1e-5);
  // Running stats: one multiply-add of O(1) values each; float32 rounding only.
  check_ref("batch_norm2d running_mean after 1", bn.running_mean, f.read("batch_norm2d/running_mean1"), 1e-6, 1e-6);
  check_ref("batch_norm2d running_var after 1", bn.running_var, f.read("batch_norm2d/running_var1"), 1e-6, 1e-6);
  {
    NoGradGuard ng;
    bn(f.read("batch_norm2d/x2"));
  }
  check_ref("batch_norm2d running_mean after 2", bn.running_mean, f.read("batch_norm2d/running_mean2"), 1e-6, 1e-6);
  check_ref("batch_norm2d running_var after 2", bn.running_var, f.read("batch_norm2d/running_var2"), 1e-6, 1e-6);
  CHECK(bn.num_batches_tracked.to_labels() == f.read("batch_norm2d/num_batches_tracked").to_labels());
  CHECK(bn.num_batches_tracked.to_labels() == std::vector<int64_t>{2});

  // Eval mode: the running statistics after the two forwards, the simple backward.
  bn.eval();
  bn.weight.zero_grad();
  bn.bias.zero_grad();
  Tensor xe = f.read("batch_norm2d_eval/x").set_requires_grad(true);
  Tensor ye = bn(xe);
  check_ref("batch_norm2d eval y", ye, f.read("batch_norm2d_eval/y"), 1e-5, 1e-5);  // as training y
  ye.backward(f.read("batch_norm2d_eval/grad_y"));
  check_ref("batch_norm2d eval grad_x", xe.grad(), f.read("batch_norm2d_eval/grad_x"), 1e-5, 1e-6);  // one product
  check_ref("batch_norm2d eval grad_weight", bn.weight.grad(), f.read("batch_norm2d_eval/grad_weight"), 1e-5, 1e-5);
  check_ref("batch_norm2d eval grad_bias", bn.bias.grad(), f.read("batch_norm2d_eval/grad_bias"), 1e-5, 1e-5);
  CHECK(bn.num_batches_tracked.to_labels() == std::vector<int64_t>{2});  // eval does not count
}

TEST_CASE("batch_norm2d: stable for a large mean with a tiny spread (float64 reference)") {
  REQUIRE_REFERENCE(path, "layers_b.h5");
  H5File f(path, H5File::Mode::Read);
  Tensor rm, rv;  // no running statistics: training mode only normalizes
  Tensor y = batch_norm2d(f.read("batch_norm2d_offset/x"), f.read("batch_norm2d_offset/weight"),
                          f.read("batch_norm2d_offset/bias"), rm, rv, true, 0.1f, 1e-5f);
  // The reference is exact (float64) for these float32 inputs. A float32 sum-of-squares or an
  // x*alpha+beta fold is off by ~1e-3 here; double statistics leave float32 output rounding.
  check_ref("batch_norm2d offset y", y, f.read("batch_norm2d_offset/y"), 1e-5, 1e-5);
}

TEST_CASE("BatchNorm2d: PyTorch's initial values, names, repr") {
  BatchNorm2d bn(4);
  CHECK(bn.weight.to_vector() == std::vector<float>(4, 1.0f));
  CHECK(bn.bias.to_vector() == std::vector<float>(4, 0.0f));
  CHECK(bn.running_mean.to_vector() == std::vector<float>(4, 0.0f));
  CHECK(bn.running_var.to_vector() == std::vector<float>(4, 1.0f));
  CHECK(bn.num_batches_tracked.dtype() == DType::Int64);
  CHECK(bn.num_batches_tracked.shape() == Shape{});
  CHECK(bn.num_batches_tracked.to_labels() == std::vector<int64_t>{0});
  std::vector<std::string> names;
  for (auto& [n, t] : bn.state_dict()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"});
  CHECK(bn.named_parameters().size() == 2);
  CHECK(bn.type() == "BatchNorm2d");
  CHECK(bn.extra_repr() == "4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True");
}

TEST_CASE("BatchNorm2d: training counts batches; a frozen backbone in eval mode changes nothing") {
  BatchNorm2d bn(2);
  Tensor x = testing::random_tensor({2, 2, 3, 3}, 31, 1.0f, 3.0f);
  bn(x);
  bn(x);
  CHECK(bn.num_batches_tracked.to_labels() == std::vector<int64_t>{2});
  const std::vector<float> rm = bn.running_mean.to_vector(), rv = bn.running_var.to_vector();
  CHECK(rm != std::vector<float>(2, 0.0f));  // the stats did move in training

  bn.freeze();
  bn.eval();
  Tensor y = bn(x);
  CHECK_FALSE(y.requires_grad());  // no parameter needs a gradient: no graph
  CHECK(bn.running_mean.to_vector() == rm);
  CHECK(bn.running_var.to_vector() == rv);
  CHECK(bn.num_batches_tracked.to_labels() == std::vector<int64_t>{2});
}

TEST_CASE("batch_norm2d: bad input names the shapes and what to do") {
  BatchNorm2d bn(3);
  CHECK_THROWS_WITH(bn(Tensor::zeros({2, 4, 3, 3})), doctest::Contains("[2, 4, 3, 3]"));
  CHECK_THROWS_WITH(bn(Tensor::zeros({2, 4, 3, 3})), doctest::Contains("[3]"));
  CHECK_THROWS_WITH(bn(Tensor::zeros({2, 3})), doctest::Contains("batch_norm2d"));
  CHECK_THROWS_WITH(bn(Tensor::zeros({1, 3, 1, 1})), doctest::Contains("more than 1 value per channel"));
  bn.eval();
  CHECK_NOTHROW(bn(Tensor::zeros({1, 3, 1, 1})));  // eval mode is fine with a single value
  Tensor none;
  CHECK_THROWS_WITH(batch_norm2d(Tensor::zeros({2, 3, 2, 2}), none, none, none, none, false, 0.1f, 1e-5f),
                    doctest::Contains("running_mean"));
  CHECK_THROWS_WITH(BatchNorm2d(0), doctest::Contains("num_features"));
}
