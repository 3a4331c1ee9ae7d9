// tests/test_autograd.cpp — the engine: accumulation, no-grad, frozen inputs, gradchecks.
#include "autograd/engine.h"
#include "autograd/ops.h"
#include "testing.h"

using namespace graft;

TEST_CASE("autograd: gradients worked by hand for y = sum((a*b + a) * 3)") {
  // dy/da = 3(b + 1), dy/db = 3a
  Tensor a = Tensor::from_vector({3}, {1, 2, 3}).set_requires_grad(true);
  Tensor b = Tensor::from_vector({3}, {4, 5, 6}).set_requires_grad(true);
  Tensor y = sum((a * b + a) * 3.0f);
  CHECK(y.item() == doctest::Approx(3 * (4 + 10 + 18 + 1 + 2 + 3)));
  y.backward();
  CHECK(a.grad().to_vector() == std::vector<float>{15, 18, 21});
  CHECK(b.grad().to_vector() == std::vector<float>{3, 6, 9});
}

TEST_CASE("autograd: gradients accumulate across uses and across backward calls") {
  Tensor a = Tensor::from_vector({2}, {1, 2}).set_requires_grad(true);
  sum(a * a).backward();  // 2a
  CHECK(a.grad().to_vector() == std::vector<float>{2, 4});
  sum(a + a).backward();  // + 2, Note [Gradient accumulation]
  CHECK(a.grad().to_vector() == std::vector<float>{4, 6});
  a.zero_grad();
  CHECK_FALSE(a.grad().defined());
}

TEST_CASE("autograd: no graph under NoGradGuard or for frozen inputs") {
  Tensor w = Tensor::from_vector({2}, {1, 2});  // frozen: requires_grad false
  Tensor x = Tensor::from_vector({2}, {3, 4});
  Tensor y = w * x;
  CHECK_FALSE(y.requires_grad());
  CHECK(y.is_leaf());
  Tensor p = Tensor::from_vector({2}, {1, 1}).set_requires_grad(true);
  {
    NoGradGuard ng;
    Tensor z = p * x;
    CHECK_FALSE(z.requires_grad());
  }
  Tensor z = p * x;
  CHECK(z.requires_grad());
  CHECK_THROWS_WITH(y.backward(), doctest::Contains("does not require a gradient"));
  CHECK_THROWS_WITH(z.backward(), doctest::Contains("must be a scalar"));
}

TEST_CASE("autograd: saved tensors are released after backward") {
  Tensor a = Tensor::from_vector({2}, {1, 2}).set_requires_grad(true);
  Tensor h = a * a;
  Tensor y = sum(h);
  CHECK(h.impl()->grad_fn != nullptr);
  y.backward();
  CHECK(h.impl()->grad_fn == nullptr);
  CHECK(y.impl()->grad_fn == nullptr);
}

TEST_CASE("autograd: finite-difference checks of the primitives") {
  auto a = testing::random_tensor({2, 3}, 11), b = testing::random_tensor({2, 3}, 12);
  auto r = testing::gradcheck([](const std::vector<Tensor>& in) { return sum((in[0] - in[1]) * in[0] * 0.5f); },
                              {a, b});
  INFO(r.message);
  CHECK(r.ok);
  r = testing::gradcheck([](const std::vector<Tensor>& in) { return mean(reshape(in[0], {3, 2}) * reshape(in[1], {3, 2})); },
                         {a, b});
  INFO(r.message);
  CHECK(r.ok);
}
