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

TEST_CASE("autograd: saved tensors are released after backward; the graph stays, marked") {
  Tensor a = Tensor::from_vector({2}, {1, 2}).set_requires_grad(true);
  Tensor h = a * a;
  Tensor y = sum(h);
  REQUIRE(h.impl()->grad_fn != nullptr);
  CHECK_FALSE(h.impl()->grad_fn->released());
  y.backward();
  CHECK(h.impl()->grad_fn != nullptr);  // intermediates never turn into leaves
  CHECK(h.impl()->grad_fn->released());  // what mul saved (a, a) is gone
  CHECK_FALSE(h.is_leaf());
  CHECK_FALSE(h.grad().defined());       // a non-leaf keeps no .grad unless asked (retain_grad)
}

// The case: w = [1,2], x = [3,4], h = w * x. sum(h).backward() gives w.grad = x = [3,4].
// A second sum(h * x).backward() reaches h's node again, whose saved tensors are gone. PyTorch
// raises there; the old engine had turned h into a leaf and silently left w.grad at [3,4] (and
// gave h a .grad). With the graph retained, d/dw sum(w x x) = x^2 = [9,16] is added: [12,20].
TEST_CASE("autograd: a released graph reached again raises; retain_graph keeps it for a second sweep") {
  const Tensor x = Tensor::from_vector({2}, {3, 4});
  {
    Tensor w = Tensor::from_vector({2}, {1, 2}).set_requires_grad(true);
    Tensor h = w * x;
    sum(h).backward();
    CHECK(w.grad().to_vector() == std::vector<float>{3, 4});
    CHECK_THROWS_WITH(sum(h * x).backward(), doctest::Contains("backward through the graph a second time"));
    CHECK_THROWS_WITH(sum(h * x).backward(), doctest::Contains("'mul'"));  // names the node
    CHECK(w.grad().to_vector() == std::vector<float>{3, 4});  // nothing was accumulated
    CHECK_FALSE(h.grad().defined());
  }
  {
    Tensor w = Tensor::from_vector({2}, {1, 2}).set_requires_grad(true);
    Tensor h = w * x;
    sum(h).backward(Tensor(), /*retain_graph=*/true);
    sum(h * x).backward();
    CHECK(w.grad().to_vector() == std::vector<float>{12, 20});
    CHECK_FALSE(h.grad().defined());
  }
  {  // A node that saved nothing can run again (PyTorch: the same): y = a + b twice.
    Tensor a = Tensor::from_vector({2}, {1, 2}).set_requires_grad(true);
    Tensor y = sum(a + a);
    y.backward();
    y.backward();
    CHECK(a.grad().to_vector() == std::vector<float>{4, 4});  // 2 per sweep, accumulated
  }
}

TEST_CASE("autograd: retain_grad keeps a non-leaf's gradient") {
  Tensor w = Tensor::from_vector({2}, {1, 2}).set_requires_grad(true);
  Tensor h = w * w;  // dL/dh for L = sum(h * 3) is 3
  h.retain_grad();
  sum(h * 3.0f).backward();
  CHECK(h.grad().to_vector() == std::vector<float>{3, 3});
  CHECK(w.grad().to_vector() == std::vector<float>{6, 12});  // 3 * 2w
}

// view, slice, clone and to are differentiable, as PyTorch's: gradients flow through them to
// the tensor they came from (hand-worked values; the old raw versions cut the graph).
TEST_CASE("autograd: view, slice, clone and to carry gradients") {
  Tensor a = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6}).set_requires_grad(true);
  const Tensor weights = Tensor::from_vector({3, 2}, {1, 2, 3, 4, 5, 6});
  sum(a.view({3, 2}) * weights).backward();  // d/da = the weights, laid out as a
  CHECK(a.grad().to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
  a.zero_grad();
  sum(a.slice(1, 2) * Tensor::from_vector({1, 3}, {7, 8, 9})).backward();  // only row 1 gets a gradient
  CHECK(a.grad().to_vector() == std::vector<float>{0, 0, 0, 7, 8, 9});
  a.zero_grad();
  Tensor c = a.clone();
  CHECK(c.requires_grad());
  CHECK(c.data() != a.data());  // a copy of the data
  sum(c * 2.0f).backward();
  CHECK(a.grad().to_vector() == std::vector<float>(6, 2.0f));
  CHECK(a.to(Device::CPU).impl() == a.impl());  // already there: the same tensor
  // detach() is the raw way: no graph through it.
  CHECK_FALSE(a.detach().view({6}).requires_grad());
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
