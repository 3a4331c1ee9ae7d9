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

namespace graft {

// The differentiable op. weight/bias may be undefined (treated as ones/zeros). running_mean /
// running_var are updated in place in training mode (skipped if undefined) and required in eval.
Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                    Tensor& running_var, bool training, float momentum, float eps);

// nn.BatchNorm2d(num_features, eps, momentum) with affine=True, track_running_stats=True.
// Parameters weight (ones), bias (zeros); buffers running_mean (zeros), running_var (ones),
// num_batches_tracked (Int64, shape {}, +1 per training forward). is_training() picks the mode,
// so a backbone put in eval() uses (and never updates) its running statistics.
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t num_features, float eps = 1e-5f, float momentum = 0.1f);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  int64_t num_features;
  float eps, momentum;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
};

// Outputs preallocated by the caller; save_mean / save_invstd: [C] (batch mean, 1/sqrt(var+eps)).
// w and b are always defined (the op substitutes ones/zeros); in training, running_mean and
// running_var may be undefined (then they are not updated). The eval-mode backward needs no
// kernel of its own: it reuses batch_norm2d_forward_inference and bias_grad (bias.h).
namespace cuda {
void batch_norm2d_forward_training(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& running_mean,
                                   Tensor& running_var, float momentum, float eps, Tensor& y, Tensor& save_mean,
                                   Tensor& save_invstd);
void batch_norm2d_forward_inference(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& running_mean,
                                    const Tensor& running_var, float eps, Tensor& y);
void batch_norm2d_backward(const Tensor& x, const Tensor& gy, const Tensor& w, const Tensor& save_mean,
                           const Tensor& save_invstd, float eps, Tensor& gx, Tensor& gw, Tensor& gb);
// *counter += 1 on the device (num_batches_tracked), queued on graft's stream: no host sync.
void increment_counter(int64_t* counter);
}  // namespace cuda

}  // namespace graft
