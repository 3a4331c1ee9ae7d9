// docs/exercises/ex05_cross_entropy.cpp — Chapter 5 of docs/tour.md: cross-entropy from
// log-softmax, and why graft fuses them.
//
// logits x = [1, 2, 3], target t = 2:
//   logsumexp(x) = 3 + log(e^-2 + e^-1 + e^0) = 3 + log(1.503215) = 3.407606
//   log_softmax(x) = x - logsumexp = [-2.407606, -1.407606, -0.407606]
//   loss = -log_softmax(x)[t] = 0.407606
//   softmax(x) = exp(log_softmax) = [0.090031, 0.244728, 0.665241]
//   dloss/dx = softmax - onehot(t) = [0.090031, 0.244728, -0.334759]
// Large logits x = [1000, 0], t = 1:
//   the exact loss is 1000 + log(1 + e^-1000) = 1000, but softmax(x)[1] = e^-1000 / (1 + e^-1000)
//   rounds to 0 in float32 (the smallest float is ~1.4e-45 = e^-103), and log(0) = -inf.
//   Subtracting the row max first gives log_softmax = [0, -1000] without ever forming e^-1000.
// Run: meson test -C build ex05_cross_entropy --verbose
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <cmath>

#include "exercise.h"
#include "layers/loss.h"
#include "layers/softmax.h"

using namespace graft;
using exercise::check_all_near;
using exercise::check_near;

TEST_CASE("ex05: cross-entropy = log-softmax + NLL, fused") {
  Tensor target = Tensor::from_labels({2});

  // The fused op.
  Tensor x = Tensor::from_vector({1, 3}, {1, 2, 3}).set_requires_grad(true);
  Tensor loss = cross_entropy(x, target);
  loss.backward();
  std::printf("  cross_entropy([1,2,3], 2) = %.6f\n", static_cast<double>(loss.item()));
  // The hand values above have 6 decimals: tolerance 1e-6.
  check_near("loss", loss.item(), 0.407606, 1e-6);
  check_all_near("dloss/dx", x.grad().to_vector(), {0.090031, 0.244728, -0.334759}, 1e-6);

  // The two-op version: log_softmax then nll_loss. Same loss, same gradient.
  Tensor x2 = Tensor::from_vector({1, 3}, {1, 2, 3}).set_requires_grad(true);
  Tensor lp = log_softmax(x2);
  check_all_near("log_softmax", lp.to_vector(), {-2.407606, -1.407606, -0.407606}, 1e-6);
  Tensor loss2 = nll_loss(lp, target);
  loss2.backward();
  // Both compute in double inside and round once to float: agree to float rounding (~1e-7).
  check_near("nll(log_softmax) vs cross_entropy", loss2.item(), loss.item(), 1e-6);
  check_all_near("its gradient", x2.grad().to_vector(), {0.090031, 0.244728, -0.334759}, 1e-6);

  // Large logits: the naive log(softmax) is -inf, the shifted formula is exact.
  Tensor big = Tensor::from_vector({1, 2}, {1000, 0});
  const float p1 = softmax(big).to_vector()[1];
  std::printf("  softmax([1000, 0])[1] = %g, log of it = %g\n", static_cast<double>(p1),
              static_cast<double>(std::log(p1)));
  CHECK(p1 == 0.0f);
  CHECK(std::isinf(std::log(p1)));
  const float ce = cross_entropy(big, Tensor::from_labels({1})).item();
  std::printf("  cross_entropy([1000, 0], 1) = %g\n", static_cast<double>(ce));
  CHECK(ce == 1000.0f);  // 1000 + log(1 + e^-1000) rounds to exactly 1000 in float32
}
