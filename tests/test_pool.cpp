// tests/test_pool.cpp — max/avg pooling, adaptive average pooling and channel concat:
// output sizes worked by hand, finite differences, PyTorch references, errors, modules.
#include <algorithm>
#include <numeric>
#include <random>

#include "autograd/ops.h"
#include "layers/adaptive_avg_pool2d.h"
#include "layers/concat.h"
#include "layers/pool2d.h"
#include "testing.h"

using namespace graft;

namespace {

// Distinct values 0.1 apart in random order: no ties, and a finite-difference step of 1e-2
// never changes which element wins a max-pool window.
Tensor tie_free_tensor(const Shape& shape, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  std::iota(v.begin(), v.end(), 0.0f);
  std::shuffle(v.begin(), v.end(), std::mt19937_64(seed));
  for (float& e : v) e = 0.1f * e - 1.0f;
  return Tensor::from_vector(shape, v);
}

// Finite differences of sum(op(x) * g) (g makes every output count differently). The ops are
// piecewise linear in x, so differences are exact up to float32 rounding of f (~1e-6 * |f| /
// eps ~ 1e-4): the default tolerances (2e-2 relative, 2e-3 absolute) hold with room to spare.
testing::GradcheckResult check_pool_grads(const std::function<Tensor(const Tensor&)>& op, const Tensor& x) {
  Tensor g = testing::random_tensor(op(x).shape(), 42);
  return testing::gradcheck([&](const std::vector<Tensor>& in) { return sum(op(in[0]) * g); }, {x});
}

}  // namespace

TEST_CASE("pool_output_size: PyTorch's rule, worked by hand") {
  CHECK(pool_output_size(112, 3, 2, 1, 1, false) == 56);  // ResNet stem pool: (112+2-2-1)/2+1
  CHECK(pool_output_size(224, 2, 2, 0, 1, false) == 112); // VGG
  CHECK(pool_output_size(7, 2, 2, 0, 1, false) == 3);     // floor drops the last row
  CHECK(pool_output_size(6, 3, 2, 0, 1, false) == 2);     // (6-3)/2+1
  CHECK(pool_output_size(6, 3, 2, 0, 1, true) == 3);      // ceil((6-3)/2)+1
  // ceil_mode: (5+2-1-1+1)/2+1 = 4, but window 3 would start at 3*2-1 = 5, past input + left
  // padding: dropped.
  CHECK(pool_output_size(5, 2, 2, 1, 1, true) == 3);
  CHECK(pool_output_size(1, 3, 1, 0, 1, false) == -1);   // kernel larger than the input
}

TEST_CASE("max_pool2d and avg_pool2d: finite-difference gradients") {
  Tensor x = tie_free_tensor({2, 3, 7, 7}, 1);
  const Pool2dParams cases[] = {
      {3, 3, 2, 2, 1, 1, false, true},  // ResNet: overlapping windows with padding
      {2, 2, 2, 2, 0, 0, false, true},  // VGG
      {3, 3, 2, 2, 0, 0, true, true},   // ceil_mode: a last window clipped by the border
      {3, 2, 1, 2, 1, 0, false, true},  // non-square everything
  };
  for (const Pool2dParams& p : cases) {
    INFO("kernel " << p.kernel_h << "x" << p.kernel_w << " stride " << p.stride_h << "," << p.stride_w << " pad "
                   << p.pad_h << "," << p.pad_w << " ceil " << p.ceil_mode);
    auto rm = check_pool_grads([&](const Tensor& t) { return max_pool2d(t, p); }, x);
    INFO("max: " << rm.message);
    CHECK(rm.ok);
    Pool2dParams q = p;
    for (bool include : {true, false}) {
      q.count_include_pad = include;
      auto ra = check_pool_grads([&](const Tensor& t) { return avg_pool2d(t, q); }, x);
      INFO("avg (count_include_pad " << include << "): " << ra.message);
      CHECK(ra.ok);
    }
  }
}

TEST_CASE("max_pool2d: ties go to the first maximum, as PyTorch") {
  Tensor x = Tensor::full({1, 1, 2, 2}, 1.0f).set_requires_grad(true);
  max_pool2d(x, {2, 2, 2, 2}).backward(Tensor::full({1, 1, 1, 1}, 5.0f));
  CHECK(x.grad().to_vector() == std::vector<float>{5, 0, 0, 0});
}

TEST_CASE("adaptive_avg_pool2d: hand-worked bins and finite-difference gradients") {
  // W=5 -> 3 bins: [0,2) [1,4) [3,5) (floor(j*5/3), ceil((j+1)*5/3)); a row 0..4 averages to 0.5, 2, 3.5.
  Tensor row = Tensor::from_vector({1, 1, 1, 5}, {0, 1, 2, 3, 4});
  CHECK(adaptive_avg_pool2d(row, 1, 3).to_vector() == std::vector<float>{0.5f, 2.0f, 3.5f});
  Tensor x = testing::random_tensor({2, 3, 5, 6}, 3);
  for (auto [oh, ow] : {std::pair<int64_t, int64_t>{3, 4}, {7, 7}, {1, 1}, {5, 6}}) {
    INFO("output " << oh << "x" << ow);
    auto r = check_pool_grads([&](const Tensor& t) { return adaptive_avg_pool2d(t, oh, ow); }, x);
    INFO(r.message);
    CHECK(r.ok);
  }
}

TEST_CASE("pooling: matches torch.nn.functional forward and backward") {
  REQUIRE_REFERENCE(path, "layers.h5");
  H5File f(path, H5File::Mode::Read);
  enum Kind { Max, Avg, Adaptive };
  struct Case {
    const char* name;
    Kind kind;
    Pool2dParams p;  // for Adaptive, kernel_h/kernel_w hold the output size
  };
  // The hyper-parameters of each case in tools/references/layers.py (case_pool2d).
  const Case cases[] = {
      {"max_pool2d_resnet", Max, {3, 3, 2, 2, 1, 1, false, true}},
      {"max_pool2d_vgg", Max, {2, 2, 2, 2, 0, 0, false, true}},
      {"max_pool2d_ceil", Max, {3, 3, 2, 2, 0, 0, true, true}},
      {"avg_pool2d_densenet", Avg, {2, 2, 2, 2, 0, 0, false, true}},
      {"avg_pool2d_exclude_pad", Avg, {3, 3, 2, 2, 1, 1, false, false}},
      {"avg_pool2d_ceil_pad", Avg, {3, 3, 2, 2, 1, 1, true, true}},
      {"adaptive_avg_pool2d_7x7_from_9x11", Adaptive, {7, 7, 0, 0}},
      {"adaptive_avg_pool2d_7x7_from_5x5", Adaptive, {7, 7, 0, 0}},
      {"adaptive_avg_pool2d_1x1", Adaptive, {1, 1, 0, 0}},
  };
  for (const Case& c : cases) {
    const std::string k = c.name;
    INFO("case " << k);
    Tensor x = f.read(k + "/x").set_requires_grad(true);
    Tensor y = c.kind == Max   ? max_pool2d(x, c.p)
               : c.kind == Avg ? avg_pool2d(x, c.p)
                               : adaptive_avg_pool2d(x, c.p.kernel_h, c.p.kernel_w);
    // Max pooling selects and routes values: exact. Averages sum at most 9 float32 terms in
    // [-1,1] and divide: rounding < 1e-6, and summation order may differ from PyTorch's.
    const double tol = c.kind == Max ? 0.0 : 1e-6;
    CHECK_CLOSE((k + " y"), y, f.read(k + "/y"), tol, tol);
    y.backward(f.read(k + "/grad_y"));
    CHECK_CLOSE((k + " grad_x"), x.grad(), f.read(k + "/grad_x"), tol, tol);
  }
}

TEST_CASE("pooling: errors say what is wrong") {
  // a 3x3 window on a 1x1 input (no padding)
  CHECK_THROWS_WITH(max_pool2d(Tensor::zeros({1, 2, 1, 1}), {3, 3, 2, 2}),
                    doctest::Contains("larger than the padded input"));
  CHECK_THROWS_WITH(avg_pool2d(Tensor::zeros({1, 2, 1, 1}), {3, 3, 2, 2}), doctest::Contains("[1, 2, 1, 1]"));
  CHECK_THROWS_WITH(max_pool2d(Tensor::zeros({1, 2, 8, 8}), {2, 2, 2, 2, 2, 2}),
                    doctest::Contains("at most half the kernel"));
  CHECK_THROWS_WITH(max_pool2d(Tensor::zeros({2, 8, 8}), {2, 2, 2, 2}), doctest::Contains("max_pool2d"));
  CHECK_THROWS_WITH(adaptive_avg_pool2d(Tensor::zeros({2, 8, 8}), 1, 1), doctest::Contains("adaptive_avg_pool2d"));
}

TEST_CASE("pooling modules: defaults, shapes and PyTorch's repr") {
  MaxPool2d mp(3, 2, 1);
  CHECK(mp.type() == "MaxPool2d");
  CHECK(mp.extra_repr() == "kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False");
  CHECK(mp(Tensor::zeros({1, 2, 112, 112})).shape() == Shape{1, 2, 56, 56});
  MaxPool2d vgg(2);  // stride defaults to the kernel size
  CHECK(vgg.extra_repr() == "kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False");
  CHECK(vgg(Tensor::zeros({1, 1, 7, 7})).shape() == Shape{1, 1, 3, 3});
  CHECK(MaxPool2d(3, 2, 0, true)(Tensor::zeros({1, 1, 6, 6})).shape() == Shape{1, 1, 3, 3});
  AvgPool2d ap(2);
  CHECK(ap.type() == "AvgPool2d");
  CHECK(ap.extra_repr() == "kernel_size=2, stride=2, padding=0");
  CHECK(ap(Tensor::zeros({1, 4, 56, 56})).shape() == Shape{1, 4, 28, 28});
  AdaptiveAvgPool2d a7(7, 7), a1(1);
  CHECK(a7.type() == "AdaptiveAvgPool2d");
  CHECK(a7.extra_repr() == "output_size=(7, 7)");
  CHECK(a1.extra_repr() == "output_size=1");
  CHECK(a7(Tensor::zeros({2, 3, 9, 11})).shape() == Shape{2, 3, 7, 7});
  CHECK(a1(Tensor::zeros({2, 3, 9, 11})).shape() == Shape{2, 3, 1, 1});
  CHECK(mp.named_parameters().empty());
}

TEST_CASE("concat_channels: finite differences, reference, frozen inputs, errors") {
  Tensor a = testing::random_tensor({2, 2, 3, 4}, 1), b = testing::random_tensor({2, 1, 3, 4}, 2);
  Tensor c = testing::random_tensor({2, 3, 3, 4}, 3), g = testing::random_tensor({2, 6, 3, 4}, 4);
  // Concatenation only moves values: the finite differences are exact up to float rounding.
  auto r = testing::gradcheck(
      [&](const std::vector<Tensor>& in) { return sum(concat_channels({in[0], in[1], in[2]}) * g); }, {a, b, c});
  INFO(r.message);
  CHECK(r.ok);

  // Only the inputs that require a gradient get one.
  Tensor frozen = testing::random_tensor({2, 2, 3, 4}, 5), trained = testing::random_tensor({2, 1, 3, 4}, 6);
  trained.set_requires_grad(true);
  concat_channels({frozen, trained}).backward(Tensor::ones({2, 3, 3, 4}));
  CHECK_FALSE(frozen.grad().defined());
  CHECK(trained.grad().defined());

  CHECK_THROWS_WITH(concat_channels({a, Tensor::zeros({2, 1, 3, 5})}), doctest::Contains("[2, 1, 3, 5]"));
  CHECK_THROWS_WITH(concat_channels({a, Tensor::zeros({2, 1, 3, 5})}), doctest::Contains("[2, 2, 3, 4]"));
  CHECK_THROWS_WITH(concat_channels({}), doctest::Contains("concat_channels"));

  REQUIRE_REFERENCE(path, "layers.h5");
  H5File f(path, H5File::Mode::Read);
  std::vector<Tensor> xs;
  for (int i = 0; i < 3; ++i) xs.push_back(f.read("concat_channels/x" + std::to_string(i)).set_requires_grad(true));
  Tensor y = concat_channels(xs);
  // Pure copies: exact.
  CHECK_CLOSE("concat y", y, f.read("concat_channels/y"), 0.0, 0.0);
  y.backward(f.read("concat_channels/grad_y"));
  for (int i = 0; i < 3; ++i)
    CHECK_CLOSE(("concat grad_x" + std::to_string(i)), xs[i].grad(),
                f.read("concat_channels/grad_x" + std::to_string(i)), 0.0, 0.0);
}
