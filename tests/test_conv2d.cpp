// tests/test_conv2d.cpp — conv2d: finite differences, PyTorch references, errors, the module.
#include <cmath>

#include "autograd/ops.h"
#include "layers/conv2d.h"
#include "testing.h"

using namespace graft;

namespace {

// sum(conv2d(x, w, b) * g): g weights every output differently, so a gradient that lands on
// the wrong element (a transposed or shifted index) changes the result and fails the check.
testing::GradcheckResult check_conv_grads(const Shape& xs, const Shape& ws, bool bias, const Conv2dParams& p) {
  Tensor x = testing::random_tensor(xs, 1), w = testing::random_tensor(ws, 2);
  Tensor b = bias ? testing::random_tensor({ws[0]}, 3) : Tensor();
  Shape ys = conv2d(x, w, b, p).shape();
  Tensor g = testing::random_tensor(ys, 4);
  std::vector<Tensor> inputs = {x, w};
  if (bias) inputs.push_back(b);
  // conv2d is linear in each input, so central differences are exact up to float32 rounding
  // of f (~1e-6 * |f| / eps ~ 5e-4): the default tolerances (2e-2 relative, 2e-3 absolute) hold.
  return testing::gradcheck(
      [&](const std::vector<Tensor>& in) { return sum(conv2d(in[0], in[1], bias ? in[2] : Tensor(), p) * g); },
      inputs);
}

}  // namespace

TEST_CASE("conv2d: finite-difference gradients") {
  SUBCASE("3x3, stride 1, padding 1") {
    auto r = check_conv_grads({2, 3, 5, 5}, {2, 3, 3, 3}, true, {1, 1, 1, 1, 1, 1});
    INFO(r.message);
    CHECK(r.ok);
  }
  SUBCASE("non-square: kernel 3x2, stride (2,1), padding (1,0), dilation (1,2), input 6x7") {
    auto r = check_conv_grads({2, 3, 6, 7}, {2, 3, 3, 2}, true, {2, 1, 1, 0, 1, 2});
    INFO(r.message);
    CHECK(r.ok);
  }
  SUBCASE("1x1, stride 1, no padding (the im2col-free path), no bias") {
    auto r = check_conv_grads({2, 3, 5, 6}, {4, 3, 1, 1}, false, {});
    INFO(r.message);
    CHECK(r.ok);
  }
  SUBCASE("3x3 kernel dilated to 5x5, stride 2, padding 2 on 7x7") {
    auto r = check_conv_grads({2, 3, 7, 7}, {2, 3, 3, 3}, false, {2, 2, 2, 2, 2, 2});
    INFO(r.message);
    CHECK(r.ok);
  }
}

TEST_CASE("conv2d: matches torch.nn.functional.conv2d forward and backward") {
  REQUIRE_REFERENCE(path, "layers.h5");
  H5File f(path, H5File::Mode::Read);
  struct Case {
    const char* name;
    Conv2dParams p;
    bool bias;
  };
  // The hyper-parameters of each case in tools/references/layers.py (case_conv2d).
  const Case cases[] = {
      {"conv2d_3x3", {1, 1, 1, 1, 1, 1}, true},         {"conv2d_stem", {2, 2, 3, 3, 1, 1}, false},
      {"conv2d_1x1", {1, 1, 0, 0, 1, 1}, true},         {"conv2d_1x1_stride2", {2, 2, 0, 0, 1, 1}, false},
      {"conv2d_dilation2", {1, 1, 2, 2, 2, 2}, true},   {"conv2d_nonsquare", {2, 1, 1, 0, 1, 1}, true},
  };
  for (const Case& c : cases) {
    const std::string k = c.name;
    INFO("case " << k);
    Tensor x = f.read(k + "/x").set_requires_grad(true);
    Tensor w = f.read(k + "/weight").set_requires_grad(true);
    Tensor b = c.bias ? f.read(k + "/bias").set_requires_grad(true) : Tensor();
    Tensor y = conv2d(x, w, b, c.p);
    // float32 sums of up to C*R*S = 147 products (inputs in [-1,1]) taken in another order
    // than PyTorch's: each rounding is <= 6e-8 of a partial sum of magnitude <= ~15, so a few
    // 1e-6 absolute (measured worst: 7e-6 on stem outputs of magnitude 7.6). Gradients sum
    // K*R*S <= 196 (grad_x) or N*P*Q <= 128 (grad_weight) terms: the same bound. 1e-5 + 1e-5|y|.
    CHECK_CLOSE((k + " y"), y, f.read(k + "/y"), 1e-5, 1e-5);
    y.backward(f.read(k + "/grad_y"));
    CHECK_CLOSE((k + " grad_x"), x.grad(), f.read(k + "/grad_x"), 1e-5, 1e-5);
    CHECK_CLOSE((k + " grad_weight"), w.grad(), f.read(k + "/grad_weight"), 1e-5, 1e-5);
    if (c.bias) CHECK_CLOSE((k + " grad_bias"), b.grad(), f.read(k + "/grad_bias"), 1e-5, 1e-5);
  }
}

TEST_CASE("conv2d: only the inputs that require a gradient get one") {
  Tensor x = testing::random_tensor({1, 2, 4, 4}, 5);  // a frozen input: no grad_x computed
  Tensor w = testing::random_tensor({3, 2, 3, 3}, 6).set_requires_grad(true);
  Tensor b = testing::random_tensor({3}, 7);  // frozen bias
  conv2d(x, w, b, {1, 1, 1, 1, 1, 1}).backward(Tensor::ones({1, 3, 4, 4}));
  CHECK_FALSE(x.grad().defined());
  CHECK_FALSE(b.grad().defined());
  REQUIRE(w.grad().defined());
  // With dy = 1 and x all ones, dw[k,c,r,s] counts the output pixels whose tap (r,s) lands
  // inside the 4x4 input: 3 rows x 3 columns for a corner tap, 4x4 for the centre.
  Tensor ones = Tensor::ones({1, 2, 4, 4}), w2 = Tensor::zeros({1, 2, 3, 3}).set_requires_grad(true);
  conv2d(ones, w2, Tensor(), {1, 1, 1, 1, 1, 1}).backward(Tensor::ones({1, 1, 4, 4}));
  std::vector<float> gw = w2.grad().to_vector();
  CHECK(gw[0] == 9.0f);   // tap (0,0)
  CHECK(gw[1] == 12.0f);  // tap (0,1): 3 rows x 4 columns
  CHECK(gw[4] == 16.0f);  // tap (1,1)
}

TEST_CASE("conv2d: errors name both shapes and say what is wrong") {
  Conv2d conv(3, 8, 3, 1, 1);
  // wrong channel count
  CHECK_THROWS_WITH(conv(Tensor::zeros({2, 4, 8, 8})), doctest::Contains("[2, 4, 8, 8]"));
  CHECK_THROWS_WITH(conv(Tensor::zeros({2, 4, 8, 8})), doctest::Contains("[8, 3, 3, 3]"));
  CHECK_THROWS_WITH(conv(Tensor::zeros({2, 4, 8, 8})), doctest::Contains("channels"));
  // a 7x7 kernel on a 2x2 input padded to 4x4
  Tensor w = Tensor::zeros({1, 1, 7, 7});
  CHECK_THROWS_WITH(conv2d(Tensor::zeros({1, 1, 2, 2}), w, Tensor(), {1, 1, 1, 1, 1, 1}),
                    doctest::Contains("larger than the padded input 4x4"));
  // dilation makes a 3x3 kernel 5x5
  CHECK_THROWS_WITH(conv2d(Tensor::zeros({1, 1, 4, 4}), Tensor::zeros({1, 1, 3, 3}), Tensor(), {1, 1, 0, 0, 2, 2}),
                    doctest::Contains("kernel 5x5"));
  CHECK_THROWS_WITH(conv2d(Tensor::zeros({1, 1, 4}), w, Tensor(), {}), doctest::Contains("conv2d"));
  CHECK_THROWS_WITH(conv2d(Tensor::zeros({1, 1, 8, 8}), w, Tensor::zeros({2}), {}), doctest::Contains("bias"));
}

TEST_CASE("Conv2d module: PyTorch's names, shapes, init bounds and repr") {
  Conv2d conv(3, 64, 3, 1, 1);
  auto params = conv.named_parameters();
  REQUIRE(params.size() == 2);
  CHECK(params[0].first == "weight");
  CHECK(params[0].second.shape() == Shape{64, 3, 3, 3});
  CHECK(params[1].first == "bias");
  CHECK(params[1].second.shape() == Shape{64});
  // kaiming_uniform_(a=sqrt(5)) and the bias both draw from U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
  // fan_in = 3*3*3 = 27.
  const float bound = 1.0f / std::sqrt(27.0f);
  for (const auto& [name, t] : params)
    for (float v : t.to_vector()) CHECK(std::fabs(v) <= bound);
  CHECK(conv.type() == "Conv2d");
  CHECK(conv.extra_repr() == "3, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)");
  CHECK(conv(Tensor::zeros({2, 3, 10, 12})).shape() == Shape{2, 64, 10, 12});

  Conv2d stem(3, 64, 7, 2, 3, false);
  CHECK(stem.named_parameters().size() == 1);
  CHECK(stem.extra_repr() == "3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False");
  CHECK(stem(Tensor::zeros({1, 3, 32, 32})).shape() == Shape{1, 64, 16, 16});

  Conv2d rect(4, 2, {3, 1}, {2, 1}, {0, 0}, true, {2, 1});
  CHECK(rect.extra_repr() == "4, 2, kernel_size=(3, 1), stride=(2, 1), dilation=(2, 1)");
  CHECK(rect(Tensor::zeros({1, 4, 9, 5})).shape() == Shape{1, 2, 3, 5});  // (9 - 4 - 1) / 2 + 1 = 3
}
