// docs/exercises/ex02_autograd.cpp — Chapter 2 of docs/tour.md: the tape and a backward pass
// worked by hand on a two-layer network.
//
//   x = [1, 2]                                       [1,2]
//   z = x W1^T + b1,  W1 = [[1, -1], [2, 1]],  b1 = [0.5, -1]
//     = [1 - 2 + 0.5,  2 + 2 - 1] = [-0.5, 3]
//   h = relu(z) = [0, 3]
//   y = h W2^T + b2,  W2 = [[1, 2]],  b2 = [1]
//     = 0*1 + 3*2 + 1 = 7
//   L = 0.5 * y^2 = 24.5
// Backward, one op at a time from the end (chain rule):
//   dL/dy  = y = 7
//   dL/dW2 = dy^T h  = 7 * [0, 3] = [[0, 21]]        dL/db2 = 7
//   dL/dh  = dy W2   = 7 * [1, 2] = [7, 14]
//   dL/dz  = dL/dh * (z > 0) = [0, 14]               (relu passes the gradient where z > 0)
//   dL/dW1 = dz^T x  = [[0, 0], [14, 28]]            dL/db1 = [0, 14]
//   dL/dx  = dz W1   = 0 * [1, -1] + 14 * [2, 1] = [28, 14]
// Run: meson test -C build ex02_autograd --verbose
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "autograd/engine.h"
#include "autograd/ops.h"
#include "exercise.h"
#include "layers/activation.h"
#include "layers/linear.h"

using namespace graft;
using exercise::check_all_near;

namespace {
// The forward pass above; every op records a node on the tape.
Tensor two_layer_loss(const Tensor& x, const Tensor& W1, const Tensor& b1, const Tensor& W2, const Tensor& b2) {
  Tensor h = relu(linear(x, W1, b1));
  Tensor y = linear(h, W2, b2);
  return sum(y * y) * 0.5f;  // y is [1,1]: sum makes the scalar L
}
}  // namespace

TEST_CASE("ex02: a backward pass worked by hand") {
  Tensor x = Tensor::from_vector({1, 2}, {1, 2}).set_requires_grad(true);
  Tensor W1 = Tensor::from_vector({2, 2}, {1, -1, 2, 1}).set_requires_grad(true);
  Tensor b1 = Tensor::from_vector({2}, {0.5f, -1}).set_requires_grad(true);
  Tensor W2 = Tensor::from_vector({1, 2}, {1, 2}).set_requires_grad(true);
  Tensor b2 = Tensor::from_vector({1}, {1}).set_requires_grad(true);

  Tensor L = two_layer_loss(x, W1, b1, W2, b2);
  std::printf("  L = %g\n", static_cast<double>(L.item()));
  // Small integers and halves: every value is exact in float32, so the tolerance is 0.
  CHECK(L.item() == 24.5f);

  // The tape: follow the edge of each node's first input from L back to the first linear.
  std::string chain;
  std::vector<std::string> names;
  for (Node* n = L.impl()->grad_fn.get(); n; n = n->next[0].node.get()) {
    names.push_back(n->name);
    chain += (chain.empty() ? "" : " <- ") + std::string(n->name);
  }
  std::printf("  tape (from L backwards): %s\n", chain.c_str());
  CHECK(names == std::vector<std::string>{"scale", "sum", "mul", "linear", "relu", "linear"});

  L.backward();
  check_all_near("dL/dW2", W2.grad().to_vector(), {0, 21}, 0.0);
  check_all_near("dL/db2", b2.grad().to_vector(), {7}, 0.0);
  check_all_near("dL/dW1", W1.grad().to_vector(), {0, 0, 14, 28}, 0.0);
  check_all_near("dL/db1", b1.grad().to_vector(), {0, 14}, 0.0);
  check_all_near("dL/dx", x.grad().to_vector(), {28, 14}, 0.0);
  exercise::print_values("dL/dW1", W1.grad().to_vector());
  exercise::print_values("dL/dx", x.grad().to_vector());

  // The sweep released what the nodes saved (retain_graph=false): the graph is still there,
  // but going through it again is an error, not a wrong gradient (Note [Released graphs]).
  CHECK(L.impl()->grad_fn != nullptr);
  CHECK_THROWS_WITH(L.backward(), doctest::Contains("backward through the graph a second time"));

  // Note [Gradient accumulation]: a second backward ADDS to the leaves' grads (so training
  // loops call zero_grad() before each backward).
  two_layer_loss(x, W1, b1, W2, b2).backward();
  check_all_near("dL/dW2 after two backward calls", W2.grad().to_vector(), {0, 42}, 0.0);
  W2.zero_grad();
  CHECK_FALSE(W2.grad().defined());

  // Under NoGradGuard nothing is recorded: no tape, no backward.
  {
    NoGradGuard no_grad;
    Tensor L2 = two_layer_loss(x, W1, b1, W2, b2);
    CHECK(L2.impl()->grad_fn == nullptr);
    CHECK_FALSE(L2.requires_grad());
  }
}
