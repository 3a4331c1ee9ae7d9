// docs/exercises/ex04_batchnorm.cpp — Chapter 4 of docs/tour.md: batch norm in train and eval.
//
// x: [N=2, C=1, H=1, W=2] = [1, 3, 5, 7], gamma = 1, beta = 0, eps = 1e-5, momentum = 0.1.
// Training mode (batch statistics over M = N*H*W = 4 values):
//   mean = 16/4 = 4;   var = (9 + 1 + 1 + 9)/4 = 5 (biased);   unbiased var = 20/3 = 6.6667
//   y = (x - 4)/sqrt(5 + eps) = [-1.3416, -0.4472, 0.4472, 1.3416]
//   running_mean = 0.9*0 + 0.1*4 = 0.4;  running_var = 0.9*1 + 0.1*(20/3) = 1.5667 (unbiased!)
// Backward in training, dy = [1, 0, 0, 0], xhat = y:
//   dx = invstd * (dy - mean(dy) - xhat * mean(dy*xhat)),  mean(dy) = 1/4, mean(dy*xhat) = -3/(4 sqrt 5)
//      = invstd * [0.75 - 0.45, -0.25 - 0.15, -0.25 + 0.15, -0.25 + 0.45]
//      = invstd * [0.3, -0.4, -0.1, 0.2]      (sums to 0: shifting x does not change y)
// Eval mode uses the running statistics, which are constants:
//   y = (x - 0.4)/sqrt(1.5667 + eps),   dx = dy / sqrt(1.5667 + eps) = [0.79893, 0, 0, 0]
// Run: meson test -C build ex04_batchnorm --verbose
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <cmath>

#include "autograd/ops.h"
#include "exercise.h"
#include "layers/batch_norm2d.h"

using namespace graft;
using exercise::check_all_near;
using exercise::check_near;

TEST_CASE("ex04: batch norm in train and eval") {
  const double eps = 1e-5;
  BatchNorm2d bn(1);  // train mode, as every new module
  Tensor x = Tensor::from_vector({2, 1, 1, 2}, {1, 3, 5, 7}).set_requires_grad(true);
  Tensor dy = Tensor::from_vector({2, 1, 1, 2}, {1, 0, 0, 0});

  Tensor y = bn(x);
  const double invstd = 1 / std::sqrt(5 + eps);
  exercise::print_values("train y", y.to_vector());
  // Values of size ~1 in float32 carry ~1e-7 relative rounding: 1e-6 leaves room for a few ops.
  check_all_near("train y", y.to_vector(), {-3 * invstd, -1 * invstd, 1 * invstd, 3 * invstd}, 1e-6);
  check_near("running_mean", bn.running_mean.item(), 0.4, 1e-6);
  check_near("running_var (unbiased)", bn.running_var.item(), 0.9 + 0.1 * 20.0 / 3.0, 1e-6);
  CHECK(bn.num_batches_tracked.to_labels()[0] == 1);

  sum(y * dy).backward();  // dL/dy = dy
  exercise::print_values("train dx", x.grad().to_vector());
  check_all_near("train dx", x.grad().to_vector(), {0.3 * invstd, -0.4 * invstd, -0.1 * invstd, 0.2 * invstd}, 1e-6);
  double total = 0;
  for (float v : x.grad().to_vector()) total += v;
  check_near("sum of train dx", total, 0.0, 1e-6);

  // Eval: the running statistics, no update, and the gradient of a per-channel affine map.
  bn.eval();
  Tensor x2 = Tensor::from_vector({2, 1, 1, 2}, {1, 3, 5, 7}).set_requires_grad(true);
  Tensor y2 = bn(x2);
  const double rv = 0.9 + 0.1 * 20.0 / 3.0, inv_run = 1 / std::sqrt(rv + eps);
  exercise::print_values("eval y", y2.to_vector());
  check_all_near("eval y", y2.to_vector(), {0.6 * inv_run, 2.6 * inv_run, 4.6 * inv_run, 6.6 * inv_run}, 1e-6);
  check_near("running_mean unchanged in eval", bn.running_mean.item(), 0.4, 1e-6);
  CHECK(bn.num_batches_tracked.to_labels()[0] == 1);
  sum(y2 * dy).backward();
  check_all_near("eval dx", x2.grad().to_vector(), {inv_run, 0, 0, 0}, 1e-6);
  std::printf("  eval dx[0] = %.5f (= 1/sqrt(running_var + eps))\n", static_cast<double>(x2.grad().to_vector()[0]));
}
