// docs/exercises/ex06_optim.cpp — Chapter 6 of docs/tour.md: SGD with momentum, and Adam.
//
// One parameter p = 1 with the constant gradient g = 1 (the loss is sum(p)).
// SGD, lr = 0.1, momentum = 0.9 (buf = g on the first step, then buf = 0.9 buf + g; p -= lr buf):
//   step 1: buf = 1                 p = 1    - 0.1 * 1    = 0.9
//   step 2: buf = 0.9 + 1 = 1.9     p = 0.9  - 0.1 * 1.9  = 0.71
//   step 3: buf = 1.71 + 1 = 2.71   p = 0.71 - 0.1 * 2.71 = 0.439
// Adam, lr = 0.1, betas (0.9, 0.999), eps = 1e-8. With a constant gradient g:
//   m_t = (1 - 0.9^t) g,  v_t = (1 - 0.999^t) g^2, so m_t / (1 - 0.9^t) = g, v_t / (1 - 0.999^t) = g^2
//   and each step is lr * g / (|g| + eps) = 0.1 whatever the size of g:
//   p = 1 - 3 * 0.1 = 0.7 after three steps, for g = 1 AND for g = 0.01.
// SGD without momentum moves the g = 0.01 parameter 100 times less: 1 - 3 * 0.1 * 0.01 = 0.997.
// Run: meson test -C build ex06_optim --verbose
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "autograd/ops.h"
#include "exercise.h"
#include "optim/adam.h"
#include "optim/sgd.h"

using namespace graft;
using exercise::check_near;

namespace {
// loss = sum(a) + 0.01 * sum(b): da = 1, db = 0.01.
void three_steps(Optimizer& opt, Tensor& a, Tensor& b, std::vector<float>* trace = nullptr) {
  for (int step = 1; step <= 3; ++step) {
    opt.zero_grad();
    (sum(a) + sum(b * 0.01f)).backward();
    opt.step();
    if (trace) trace->push_back(a.item());
  }
}
Tensor param() { return Tensor::from_vector({1}, {1.0f}).set_requires_grad(true); }
}  // namespace

TEST_CASE("ex06: SGD momentum and Adam, step by step") {
  // Each step rounds to float32 (~6e-8 near 1); three steps stay well below 1e-6.
  {
    Tensor a = param(), b = param();
    SGD sgd({a, b}, /*lr=*/0.1f, /*momentum=*/0.9f);
    std::vector<float> trace;
    three_steps(sgd, a, b, &trace);
    exercise::print_values("SGD momentum, p", trace);
    check_near("SGD step 1", trace[0], 0.9, 1e-6);
    check_near("SGD step 2", trace[1], 0.71, 1e-6);
    check_near("SGD step 3", trace[2], 0.439, 1e-6);
    // The momentum buffer is optimizer state, saved in checkpoints as "state.<group>.<index>.<name>".
    bool found = false;
    for (auto& [key, t] : sgd.state())
      if (key == "state.0.0.momentum_buffer") {
        found = true;
        check_near("momentum buffer after 3 steps", t.item(), 2.71, 1e-6);
      }
    CHECK(found);
  }
  {
    Tensor a = param(), b = param();
    SGD plain({a, b}, 0.1f);
    three_steps(plain, a, b);
    check_near("SGD (no momentum), g = 0.01", b.item(), 0.997, 1e-6);
  }
  {
    Tensor a = param(), b = param();
    Adam adam({a, b}, /*lr=*/0.1f);
    std::vector<float> trace;
    three_steps(adam, a, b, &trace);
    exercise::print_values("Adam, p (g = 1)", trace);
    std::printf("  Adam, p (g = 0.01) after 3 steps: %g\n", static_cast<double>(b.item()));
    // eps/|g| = 1e-6 for g = 0.01 shortens each step by a relative 1e-6: tolerance 1e-5.
    check_near("Adam, g = 1", a.item(), 0.7, 1e-5);
    check_near("Adam, g = 0.01", b.item(), 0.7, 1e-5);
  }
  // A frozen parameter is skipped by step() even when it is in the optimizer.
  {
    Tensor a = param(), b = param();
    SGD sgd({a, b}, 0.1f);
    b.set_requires_grad(false);
    three_steps(sgd, a, b);
    check_near("frozen b", b.item(), 1.0, 0.0);
    check_near("trained a", a.item(), 0.7, 1e-6);
  }
}
