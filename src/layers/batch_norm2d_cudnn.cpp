// src/layers/batch_norm2d_cudnn.cpp — BatchNorm2d on cuDNN (spatial mode: statistics per channel
// over N, H and W), training forward, inference forward and training backward.
//
//   training:  y = (x - mean_c) * invstd_c * w_c + b_c, invstd = 1/sqrt(var_biased + eps)
//              running = (1 - momentum) * running + momentum * stat  (exponentialAverageFactor)
//              cuDNN updates running_var with the UNBIASED variance (M/(M-1) * var), as PyTorch
//              does and as batch_norm2d.h specifies; save_mean / save_invstd receive the batch
//              mean and 1/sqrt(var+eps) (cuDNN calls the latter "inverse variance", but it is
//              the inverse standard deviation).
//   inference: y = (x - running_mean) / sqrt(running_var + eps) * w + b
//   backward:  gx, gw, gb from x, gy, w and the saved statistics (formulas in batch_norm2d.h).
// x, y, gy, gx: [N,C,H,W]; w, b, running stats, saved stats, gw, gb: [C] (cuDNN's 1xCx1x1).
// CUDNN_BATCHNORM_SPATIAL, not SPATIAL_PERSISTENT: the persistent variant is faster for some
// shapes but may overflow in float for large activations, which parity cannot afford.
// cuDNN computes in float (the CPU reference sums in double), so results agree to ~1e-6 relative.
#include "layers/batch_norm2d.h"
#include "layers/cudnn_descriptors.h"
#include "tensor/check.h"

namespace graft::cuda {

namespace {
constexpr cudnnBatchNormMode_t kMode = CUDNN_BATCHNORM_SPATIAL;

void forward_training_cudnn(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& running_mean,
                                   Tensor& running_var, float momentum, float eps, Tensor& y, Tensor& save_mean,
                                   Tensor& save_invstd) {
  GRAFT_CHECK(running_mean.defined() == running_var.defined(), "batch_norm2d (cuDNN)",
              "running_mean and running_var must both be given or both be undefined, got ", running_mean, " and ",
              running_var);
  if (x.numel() == 0) return;
  TensorDesc xd(x, "batch_norm2d"), pd(1, x.size(1), 1, 1, "batch_norm2d");
  const float alpha = 1.0f, beta = 0.0f;
  float* rm = running_mean.defined() ? running_mean.data() : nullptr;
  float* rv = running_var.defined() ? running_var.data() : nullptr;
  CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(cudnn(), kMode, &alpha, &beta, xd.d, x.data(), xd.d, y.data(),
                                                     pd.d, w.data(), b.data(), static_cast<double>(momentum), rm, rv,
                                                     static_cast<double>(eps), save_mean.data(),
                                                     save_invstd.data()));
}

void forward_inference_cudnn(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& running_mean,
                                    const Tensor& running_var, float eps, Tensor& y) {
  if (x.numel() == 0) return;
  TensorDesc xd(x, "batch_norm2d"), pd(1, x.size(1), 1, 1, "batch_norm2d");
  const float alpha = 1.0f, beta = 0.0f;
  CUDNN_CHECK(cudnnBatchNormalizationForwardInference(cudnn(), kMode, &alpha, &beta, xd.d, x.data(), xd.d, y.data(),
                                                      pd.d, w.data(), b.data(), running_mean.data(),
                                                      running_var.data(), static_cast<double>(eps)));
}

void backward_cudnn(const Tensor& x, const Tensor& gy, const Tensor& w, const Tensor& save_mean,
                           const Tensor& save_invstd, float eps, Tensor& gx, Tensor& gw, Tensor& gb) {
  if (x.numel() == 0) return;
  TensorDesc xd(x, "batch_norm2d_backward"), pd(1, x.size(1), 1, 1, "batch_norm2d_backward");
  // alpha/beta for the data gradient and for the parameter gradients: overwrite both.
  const float one = 1.0f, zero = 0.0f;
  CUDNN_CHECK(cudnnBatchNormalizationBackward(cudnn(), kMode, &one, &zero, &one, &zero, xd.d, x.data(), xd.d,
                                              gy.data(), xd.d, gx.data(), pd.d, w.data(), gw.data(), gb.data(),
                                              static_cast<double>(eps), save_mean.data(), save_invstd.data()));
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::batch_norm2d_forward_training, CUDA, "cudnn", forward_training_cudnn);
GRAFT_REGISTER_KERNEL(kernels::batch_norm2d_forward_inference, CUDA, "cudnn", forward_inference_cudnn);
GRAFT_REGISTER_KERNEL(kernels::batch_norm2d_backward, CUDA, "cudnn", backward_cudnn);

}  // namespace graft::cuda
