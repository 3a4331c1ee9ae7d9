// src/layers/batch_norm2d.cpp — forward and backward of batch_norm2d() (see batch_norm2d.h);
// kernels: batch_norm2d_cpu.cpp, batch_norm2d_cudnn.cpp (and batch_norm2d.cu, the counter).
#include "layers/batch_norm2d.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "autograd/engine.h"
#include "layers/bias.h"
#include "layers/sync_batch_norm2d.h"
#include "tensor/check.h"
#include "tensor/elementwise.h"

namespace graft {

GRAFT_DEFINE_KERNELS(batch_norm2d_forward_training, batch_norm2d_forward_inference, batch_norm2d_backward,
                     increment_counter);

namespace {

// The eval-mode map y = (x - rm) / sqrt(rv + eps) * w + b (used by forward and backward).
Tensor forward_inference(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& running_mean,
                         const Tensor& running_var, float eps) {
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  kernels::batch_norm2d_forward_inference(x.device(), x, w, b, running_mean, running_var, eps, y);
  return y;
}

// weight, bias and the running stats need one entry per channel of x.
void check_channels(const Tensor& x, const char* what, const Tensor& t) {
  if (!t.defined()) return;
  GRAFT_CHECK(t.shape() == Shape{x.size(1)}, "batch_norm2d", "input ", x.shape(), " has ", x.size(1), " channels but ",
              what, " has shape ", t.shape(), "; was the layer built with BatchNorm2d(", x.size(1), ")?");
  check_same_device("batch_norm2d", x, t);
}

}  // namespace

Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                    Tensor& running_var, bool training, float momentum, float eps) {
  check_dim("batch_norm2d", "input", x, 4);
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  check_channels(x, "weight", weight);
  check_channels(x, "bias", bias);
  check_channels(x, "running_mean", running_mean);
  check_channels(x, "running_var", running_var);
  const Device dev = x.device();
  // Without affine parameters the op is plain normalization: gamma = 1, beta = 0.
  const Tensor w = weight.defined() ? weight : Tensor::ones({C}, dev);
  const Tensor b = bias.defined() ? bias : Tensor::zeros({C}, DType::Float32, dev);

  if (!training) {
    GRAFT_CHECK(running_mean.defined() && running_var.defined(), "batch_norm2d", "eval mode needs running_mean and ",
                "running_var (input ", x.shape(), "); pass them or use training mode");
    Tensor y = forward_inference(x, w, b, running_mean, running_var, eps);
    // Copies of the C statistics: the buffers may change (a later training forward) before backward.
    return record("batch_norm2d", {x, weight, bias}, y, {x, w, running_mean.clone(), running_var.clone()}, eps,
                  [](const Ctx<float>& ctx, const Tensor& gy) -> Grads {
                    const Tensor &x = ctx.saved(0), &w = ctx.saved(1), &rm = ctx.saved(2), &rv = ctx.saved(3);
                    const float eps = ctx.attrs;
                    const int64_t C = w.size(0);
                    Tensor gx, gw, gb;
                    const Tensor zeros = Tensor::zeros({C}, DType::Float32, gy.device());
                    // A per-channel affine map: dx = dy * w * invstd, the same map applied to dy without shifts.
                    if (ctx.needs_grad(0)) gx = forward_inference(gy, w, zeros, zeros, rv, eps);
                    if (ctx.needs_grad(1)) {  // dgamma = sum(dy * xhat)
                      const Tensor xhat = forward_inference(x, Tensor::ones({C}, gy.device()), zeros, rm, rv, eps);
                      gw = bias_grad(mul(gy, xhat), C);
                    }
                    if (ctx.needs_grad(2)) gb = bias_grad(gy, C);
                    return {gx, gw, gb};
                  });
  }

  GRAFT_CHECK(N * HW > 1, "batch_norm2d", "expected more than 1 value per channel when training, got input ",
              x.shape(), "; use a larger batch or eval mode");
  Tensor y = Tensor::empty(x.shape(), DType::Float32, dev);
  Tensor save_mean = Tensor::empty({C}, DType::Float32, dev), save_invstd = Tensor::empty({C}, DType::Float32, dev);
  kernels::batch_norm2d_forward_training(dev, x, w, b, running_mean, running_var, momentum, eps, y, save_mean,
                                         save_invstd);

  return record("batch_norm2d", {x, weight, bias}, y, {x, w, save_mean, save_invstd}, eps,
                [](const Ctx<float>& ctx, const Tensor& gy) -> Grads {
                  const Tensor &x = ctx.saved(0), &w = ctx.saved(1);
                  const int64_t C = w.size(0);
                  const Device dev = gy.device();
                  Tensor gx = Tensor::empty(x.shape(), DType::Float32, dev);
                  Tensor gw = Tensor::empty({C}, DType::Float32, dev), gb = Tensor::empty({C}, DType::Float32, dev);
                  kernels::batch_norm2d_backward(dev, x, gy, w, ctx.saved(2), ctx.saved(3), ctx.attrs, gx, gw, gb);
                  return {ctx.needs_grad(0) ? gx : Tensor(), ctx.needs_grad(1) ? gw : Tensor(),
                          ctx.needs_grad(2) ? gb : Tensor()};
                });
}

// ---- the module ------------------------------------------------------------------------------

BatchNorm2d::BatchNorm2d(int64_t num_features_, float eps_, float momentum_)
    : Module("BatchNorm2d"), num_features(num_features_), eps(eps_), momentum(momentum_) {
  GRAFT_CHECK(num_features > 0, "BatchNorm2d", "num_features must be positive, got ", num_features);
  weight = register_parameter("weight", Tensor::ones({num_features}));
  bias = register_parameter("bias", Tensor::zeros({num_features}));
  running_mean = register_buffer("running_mean", Tensor::zeros({num_features}));
  running_var = register_buffer("running_var", Tensor::ones({num_features}));
  num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::Int64));
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  const bool batch_stats = uses_batch_stats();
  if (batch_stats) {
    // Bookkeeping only (with a fixed momentum it does not enter the math). On the GPU a
    // one-thread kernel, so that a training step never waits for the device.
    kernels::increment_counter(num_batches_tracked.device(), num_batches_tracked);
  }
  // --sync-bn (data-parallel training): the statistics of every process's batch together.
  if (batch_stats && batch_norm_sync())
    return sync_batch_norm2d(x, weight, bias, running_mean, running_var, momentum, eps, batch_norm_sync());
  return batch_norm2d(x, weight, bias, running_mean, running_var, batch_stats, momentum, eps);
}

bool BatchNorm2d::frozen() const { return !weight.requires_grad() && !bias.requires_grad(); }

std::string BatchNorm2d::extra_repr() const {
  char buf[128];  // PyTorch: "64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True"
  std::snprintf(buf, sizeof buf, "%lld, eps=%g, momentum=%g, affine=True, track_running_stats=True",
                static_cast<long long>(num_features), static_cast<double>(eps), static_cast<double>(momentum));
  return buf;
}

}  // namespace graft
