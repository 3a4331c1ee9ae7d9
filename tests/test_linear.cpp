// tests/test_linear.cpp — Linear: finite differences and PyTorch reference.
#include "autograd/ops.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "testing.h"

using namespace graft;

TEST_CASE("linear: finite-difference gradients for x, weight, bias") {
  auto x = testing::random_tensor({3, 4}, 1), w = testing::random_tensor({2, 4}, 2), b = testing::random_tensor({2}, 3);
  auto g = testing::random_tensor({3, 2}, 4);
  // sum(linear * g) weights each output differently, so a transposed gradient would fail.
  auto r = testing::gradcheck(
      [&](const std::vector<Tensor>& in) { return sum(linear(in[0], in[1], in[2]) * g); }, {x, w, b});
  INFO(r.message);
  CHECK(r.ok);
}

TEST_CASE("linear: matches torch.nn.functional.linear forward and backward") {
  REQUIRE_REFERENCE(path, "layers.h5");
  H5File f(path, H5File::Mode::Read);
  Tensor x = f.read("linear/x").set_requires_grad(true);
  Tensor w = f.read("linear/weight").set_requires_grad(true);
  Tensor b = f.read("linear/bias").set_requires_grad(true);
  Tensor y = linear(x, w, b);
  // float32 dot products of length 7: differences come only from summation order (~1e-7).
  CHECK_CLOSE("linear y", y, f.read("linear/y"), 1e-5, 1e-6);
  y.backward(f.read("linear/grad_y"));
  CHECK_CLOSE("linear grad_x", x.grad(), f.read("linear/grad_x"), 1e-5, 1e-6);
  CHECK_CLOSE("linear grad_weight", w.grad(), f.read("linear/grad_weight"), 1e-5, 1e-6);
  CHECK_CLOSE("linear grad_bias", b.grad(), f.read("linear/grad_bias"), 1e-5, 1e-6);
}

TEST_CASE("linear: a wrong input size names both shapes") {
  Linear fc(4, 2);
  CHECK_THROWS_WITH(fc(Tensor::zeros({3, 5})), doctest::Contains("[3, 5]"));
  CHECK_THROWS_WITH(fc(Tensor::zeros({3, 5})), doctest::Contains("[2, 4]"));
}

TEST_CASE("module tree: dotted names, lookup, replace, freeze") {
  // A two-level tree like torchvision's: "features.0" (Linear) and "head" (Linear).
  auto features = std::make_shared<Sequential>(std::initializer_list<ModulePtr>{std::make_shared<Linear>(4, 3)});
  Sequential model({{"features", features}, {"head", std::make_shared<Linear>(3, 2)}});
  std::vector<std::string> names;
  for (auto& [n, t] : model.state_dict()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"features.0.weight", "features.0.bias", "head.weight", "head.bias"});
  CHECK(model.has("features.0"));
  CHECK_FALSE(model.has("features.1"));
  CHECK_FALSE(model.has("classifier.6"));
  CHECK_THROWS_WITH(model.get("features.1"), doctest::Contains("'1' not found; available here: 0"));
  model.replace("head", std::make_shared<Linear>(3, 5));
  CHECK(model.get("head")->named_parameters()[0].second.shape() == Shape{5, 3});
  model.get("features")->freeze();
  CHECK(model.num_parameters(true) == 3 * 5 + 5);  // only the new head trains
  CHECK(model.num_parameters() == 4 * 3 + 3 + 3 * 5 + 5);
}
