// src/layers/batch_norm2d.cpp — forward and backward of batch_norm2d() (see batch_norm2d.h).
#include "layers/batch_norm2d.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "autograd/engine.h"
#include "layers/bias.h"
#include "tensor/elementwise.h"

namespace graft {

namespace {

// ---- CPU kernels (one OpenMP thread per channel; image (n,c) is the row x + (n*C+c)*HW) ----

// x, y: [N,C,H,W]; w, b, running stats, save_mean, save_invstd: [C]
void forward_training_cpu(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& running_mean,
                          Tensor& running_var, float momentum, float eps, Tensor& y, Tensor& save_mean,
                          Tensor& save_invstd) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3), M = N * HW;
  const float *px = x.data(), *pw = w.data(), *pb = b.data();
  float *py = y.data(), *pmean = save_mean.data(), *pinv = save_invstd.data();
  float* prm = running_mean.defined() ? running_mean.data() : nullptr;
  float* prv = running_var.defined() ? running_var.data() : nullptr;
#pragma omp parallel for if (N * C * HW > 32768)
  for (int64_t c = 0; c < C; ++c) {
    // Two passes (mean, then squared deviations) in double: no cancellation as in E[x^2]-E[x]^2.
    double s = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const float* row = px + (n * C + c) * HW;
#pragma omp simd reduction(+ : s)  // lets the compiler reorder (vectorize) the double sum
      for (int64_t i = 0; i < HW; ++i) s += row[i];
    }
    const double mean = s / static_cast<double>(M);
    double ss = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const float* row = px + (n * C + c) * HW;
#pragma omp simd reduction(+ : ss)
      for (int64_t i = 0; i < HW; ++i) {
        const double d = row[i] - mean;
        ss += d * d;
      }
    }
    const double var = ss / static_cast<double>(M);  // biased: used to normalize
    const double invstd = 1.0 / std::sqrt(var + static_cast<double>(eps));
    // y = (x - mean) * (invstd * w) + b, the subtraction in double. Folding it into
    // x * alpha + beta cancels badly (mean 500, spread 0.1: both terms ~10^4, error 1e-3), and
    // even a float mean is off by half an ulp of 500 (1.5e-5), which is 5e-4 of that spread.
    const double alpha = invstd * pw[c], beta = pb[c];
    for (int64_t n = 0; n < N; ++n) {
      const float* row = px + (n * C + c) * HW;
      float* out = py + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) out[i] = static_cast<float>((row[i] - mean) * alpha + beta);
    }
    pmean[c] = static_cast<float>(mean);
    pinv[c] = static_cast<float>(invstd);
    if (prm) prm[c] = static_cast<float>((1.0 - momentum) * prm[c] + momentum * mean);
    if (prv) {  // running_var tracks the UNBIASED variance, as PyTorch does
      const double unbiased = ss / static_cast<double>(M - 1);
      prv[c] = static_cast<float>((1.0 - momentum) * prv[c] + momentum * unbiased);
    }
  }
}

// y = (x - running_mean) / sqrt(running_var + eps) * w + b; x, y: [N,C,H,W], the rest [C]
void forward_inference_cpu(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& running_mean,
                           const Tensor& running_var, float eps, Tensor& y) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  const float *px = x.data(), *pw = w.data(), *pb = b.data();
  const float *prm = running_mean.data(), *prv = running_var.data();
  float* py = y.data();
#pragma omp parallel for collapse(2) if (N * C * HW > 32768)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const double invstd = 1.0 / std::sqrt(static_cast<double>(prv[c]) + eps);
      const float mean = prm[c], alpha = static_cast<float>(invstd * pw[c]), beta = pb[c];
      const float* row = px + (n * C + c) * HW;
      float* out = py + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) out[i] = (row[i] - mean) * alpha + beta;  // see forward_training_cpu
    }
}

// Training-mode gradients (see the header): x, gy, gx: [N,C,H,W]; w, save_*, gw, gb: [C]
void backward_training_cpu(const Tensor& x, const Tensor& gy, const Tensor& w, const Tensor& save_mean,
                           const Tensor& save_invstd, Tensor& gx, Tensor& gw, Tensor& gb) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3), M = N * HW;
  const float *px = x.data(), *pgy = gy.data(), *pw = w.data();
  const float *pmean = save_mean.data(), *pinv = save_invstd.data();
  float *pgx = gx.data(), *pgw = gw.data(), *pgb = gb.data();
#pragma omp parallel for if (N * C * HW > 32768)
  for (int64_t c = 0; c < C; ++c) {
    const double mean = pmean[c], invstd = pinv[c];
    double sum_gy = 0.0, sum_gy_xmu = 0.0;  // sum(dy), sum(dy * (x - mean))
    for (int64_t n = 0; n < N; ++n) {
      const float *row = px + (n * C + c) * HW, *g = pgy + (n * C + c) * HW;
#pragma omp simd reduction(+ : sum_gy, sum_gy_xmu)
      for (int64_t i = 0; i < HW; ++i) {
        sum_gy += g[i];
        sum_gy_xmu += g[i] * (row[i] - mean);
      }
    }
    const double dgamma = sum_gy_xmu * invstd;  // sum(dy * xhat)
    pgb[c] = static_cast<float>(sum_gy);
    pgw[c] = static_cast<float>(dgamma);
    // dx = w*invstd * (dy - sum(dy)/M - xhat * sum(dy*xhat)/M)
    const double k = pw[c] * invstd, mean_gy = sum_gy / M, proj = dgamma * invstd / M;
    for (int64_t n = 0; n < N; ++n) {
      const float *row = px + (n * C + c) * HW, *g = pgy + (n * C + c) * HW;
      float* out = pgx + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) out[i] = static_cast<float>(k * (g[i] - mean_gy - (row[i] - mean) * proj));
    }
  }
}

// The one place that picks the device for the eval-mode map (used by forward and backward).
Tensor forward_inference(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& running_mean,
                         const Tensor& running_var, float eps) {
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.is_cuda())
    cuda::batch_norm2d_forward_inference(x, w, b, running_mean, running_var, eps, y);
  else
    forward_inference_cpu(x, w, b, running_mean, running_var, eps, y);
  return y;
}

// weight, bias and the running stats need one entry per channel of x.
void check_channels(const Tensor& x, const char* what, const Tensor& t) {
  if (!t.defined()) return;
  if (t.shape() != Shape{x.size(1)})
    throw std::invalid_argument("batch_norm2d: input " + shape_str(x.shape()) + " has " + std::to_string(x.size(1)) +
                                " channels but " + what + " has shape " + shape_str(t.shape()) +
                                "; was the layer built with BatchNorm2d(" + std::to_string(x.size(1)) + ")?");
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
    if (!running_mean.defined() || !running_var.defined())
      throw std::invalid_argument("batch_norm2d: eval mode needs running_mean and running_var (input " +
                                  shape_str(x.shape()) + "); pass them or use training mode");
    Tensor y = forward_inference(x, w, b, running_mean, running_var, eps);
    // Copies of the C statistics: the buffers may change (a later training forward) before backward.
    const Tensor rm = running_mean.clone(), rv = running_var.clone();
    return record(y, "batch_norm2d", {x, weight, bias}, [x, w, weight, bias, rm, rv, eps, C](const Tensor& gy) {
      Tensor gx, gw, gb;
      const Tensor zeros = Tensor::zeros({C}, DType::Float32, gy.device());
      // A per-channel affine map: dx = dy * w * invstd, i.e. the same map applied to dy without shifts.
      if (x.requires_grad()) gx = forward_inference(gy, w, zeros, zeros, rv, eps);
      if (weight.defined() && weight.requires_grad()) {  // dgamma = sum(dy * xhat)
        const Tensor xhat = forward_inference(x, Tensor::ones({C}, gy.device()), zeros, rm, rv, eps);
        gw = bias_grad(mul(gy, xhat), C);
      }
      if (bias.defined() && bias.requires_grad()) gb = bias_grad(gy, C);
      return std::vector<Tensor>{gx, gw, gb};
    });
  }

  if (N * HW <= 1)
    throw std::invalid_argument("batch_norm2d: expected more than 1 value per channel when training, got input " +
                                shape_str(x.shape()) + "; use a larger batch or eval mode");
  Tensor y = Tensor::empty(x.shape(), DType::Float32, dev);
  Tensor save_mean = Tensor::empty({C}, DType::Float32, dev), save_invstd = Tensor::empty({C}, DType::Float32, dev);
  if (x.is_cuda())
    cuda::batch_norm2d_forward_training(x, w, b, running_mean, running_var, momentum, eps, y, save_mean, save_invstd);
  else
    forward_training_cpu(x, w, b, running_mean, running_var, momentum, eps, y, save_mean, save_invstd);

  return record(y, "batch_norm2d", {x, weight, bias},
                [x, w, weight, bias, save_mean, save_invstd, eps, C, dev](const Tensor& gy) {
                  Tensor gx = Tensor::empty(x.shape(), DType::Float32, dev);
                  Tensor gw = Tensor::empty({C}, DType::Float32, dev), gb = Tensor::empty({C}, DType::Float32, dev);
                  if (x.is_cuda())
                    cuda::batch_norm2d_backward(x, gy, w, save_mean, save_invstd, eps, gx, gw, gb);
                  else
                    backward_training_cpu(x, gy, w, save_mean, save_invstd, gx, gw, gb);
                  return std::vector<Tensor>{x.requires_grad() ? gx : Tensor(),
                                             weight.defined() && weight.requires_grad() ? gw : Tensor(),
                                             bias.defined() && bias.requires_grad() ? gb : Tensor()};
                });
}

// ---- the module ------------------------------------------------------------------------------

BatchNorm2d::BatchNorm2d(int64_t num_features_, float eps_, float momentum_)
    : Module("BatchNorm2d"), num_features(num_features_), eps(eps_), momentum(momentum_) {
  if (num_features <= 0)
    throw std::invalid_argument("BatchNorm2d: num_features must be positive, got " + std::to_string(num_features));
  weight = register_parameter("weight", Tensor::ones({num_features}));
  bias = register_parameter("bias", Tensor::zeros({num_features}));
  running_mean = register_buffer("running_mean", Tensor::zeros({num_features}));
  running_var = register_buffer("running_var", Tensor::ones({num_features}));
  num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::Int64));
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  if (is_training()) {
    // Bookkeeping only (with a fixed momentum it does not enter the math). On the GPU a
    // one-thread kernel, so that a training step never waits for the device.
    if (num_batches_tracked.is_cuda())
      cuda::increment_counter(num_batches_tracked.data_ptr<int64_t>());
    else
      num_batches_tracked.data_ptr<int64_t>()[0] += 1;
  }
  return batch_norm2d(x, weight, bias, running_mean, running_var, is_training(), momentum, eps);
}

std::string BatchNorm2d::extra_repr() const {
  char buf[128];  // PyTorch: "64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True"
  std::snprintf(buf, sizeof buf, "%lld, eps=%g, momentum=%g, affine=True, track_running_stats=True",
                static_cast<long long>(num_features), static_cast<double>(eps), static_cast<double>(momentum));
  return buf;
}

}  // namespace graft
