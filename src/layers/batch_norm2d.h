// src/layers/batch_norm2d.h — batch normalization over the channels of an image batch.
//
//   x: [N,C,H,W]; weight (gamma), bias (beta), running_mean, running_var: [C];  M = N*H*W
//   training: mean_c = sum(x)/M, var_c = sum((x-mean_c)^2)/M (biased), invstd = 1/sqrt(var+eps)
//             y = (x - mean_c) * invstd * gamma_c + beta_c
//             running_mean = (1-m) running_mean + m mean_c
//             running_var  = (1-m) running_var  + m var_c * M/(M-1)   (UNBIASED, as PyTorch)
//   eval:     the same y with running_mean / running_var in place of the batch statistics.
//   backward (training), xhat = (x-mean)*invstd:
//             dbeta = sum(dy), dgamma = sum(dy*xhat),
//             dx = gamma*invstd * (dy - dbeta/M - xhat*dgamma/M)
//   backward (eval): the op is a per-channel affine map, so dx = dy * gamma * invstd_running.
//
// Design note: the batch statistics enter the training gradient (the mean and variance depend
// on every x), which is why dx has the two correction terms; in eval mode they are constants.
// Per-channel sums are accumulated in double: M can be 10^6 terms (N=32, 224x224).
#pragma once

#include "layers/module.h"
#include "tensor/dispatch.h"

namespace graft {

// The differentiable op. weight/bias may be undefined (treated as ones/zeros). running_mean /
// running_var are updated in place in training mode (skipped if undefined) and required in eval.
Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                    Tensor& running_var, bool training, float momentum, float eps);

// nn.BatchNorm2d(num_features, eps, momentum) with affine=True, track_running_stats=True.
// Parameters weight (ones), bias (zeros); buffers running_mean (zeros), running_var (ones),
// num_batches_tracked (Int64, shape {}, +1 per training forward). is_training() picks the mode,
// so a backbone put in eval() uses (and never updates) its running statistics.
//
// Frozen batch norm: a layer whose weight and bias are both frozen (requires_grad false)
// normalizes with its running statistics and leaves them unchanged even in training mode —
// the usual choice when fine-tuning on top of a frozen backbone (PyTorch's own layer would keep
// updating them: set eval_when_frozen = false for that). It is the layer's own state, so any
// training loop gets it without doing anything.
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t num_features, float eps = 1e-5f, float momentum = 0.1f);
  std::string extra_repr() const override;
  bool frozen() const;  // weight and bias both frozen
  // Whether forward normalizes with the batch's statistics (training mode, not frozen) rather
  // than the running ones.
  bool uses_batch_stats() const { return is_training() && !(eval_when_frozen && frozen()); }

  int64_t num_features;
  float eps, momentum;
  bool eval_when_frozen = true;  // see "Frozen batch norm" above
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 protected:
  Tensor forward(const Tensor& x) override;
};

// The kernels (batch_norm2d_cpu.cpp; batch_norm2d_cudnn.cpp and batch_norm2d.cu). Outputs
// preallocated by the op; save_mean / save_invstd: [C] (batch mean, 1/sqrt(var+eps)). w and b
// are always defined (the op substitutes ones/zeros); in training, running_mean and running_var
// may be undefined (then they are not updated). The eval-mode backward needs no kernel of its
// own: it reuses batch_norm2d_forward_inference and bias_grad (bias.h).
namespace kernels {
GRAFT_DECLARE_KERNEL(batch_norm2d_forward_training,
                     void(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& running_mean, Tensor& running_var,
                          float momentum, float eps, Tensor& y, Tensor& save_mean, Tensor& save_invstd));
GRAFT_DECLARE_KERNEL(batch_norm2d_forward_inference,
                     void(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& running_mean,
                          const Tensor& running_var, float eps, Tensor& y));
GRAFT_DECLARE_KERNEL(batch_norm2d_backward,
                     void(const Tensor& x, const Tensor& gy, const Tensor& w, const Tensor& save_mean,
                          const Tensor& save_invstd, float eps, Tensor& gx, Tensor& gw, Tensor& gb));
// counter: Int64 [] += 1 (num_batches_tracked), on the device: a step never waits for it.
GRAFT_DECLARE_KERNEL(increment_counter, void(Tensor& counter));
}  // namespace kernels

}  // namespace graft
