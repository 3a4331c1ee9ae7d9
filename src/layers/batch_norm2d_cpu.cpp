// src/layers/batch_norm2d_cpu.cpp — batch norm's CPU kernels (see batch_norm2d.h for the math):
// one OpenMP thread per channel; image (n,c) is the row x + (n*C+c)*HW. Sums in double.
#include <cmath>

#include "layers/batch_norm2d.h"
#include "layers/batch_norm2d_stats.h"

namespace graft {
namespace {

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
    const bn_cpu::ChannelStats st = bn_cpu::channel_stats(px, N, C, HW, c);
    const double mean = st.mean;
    const double var = st.sum_sq / static_cast<double>(M);  // biased: used to normalize
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
    bn_cpu::update_running_stats(prm, prv, c, st, M, momentum);
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
                           const Tensor& save_invstd, float, Tensor& gx, Tensor& gw, Tensor& gb) {
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

// num_batches_tracked += 1
void increment_counter_cpu(Tensor& counter) { counter.data_ptr<int64_t>()[0] += 1; }

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::batch_norm2d_forward_training, CPU, kIsa, forward_training_cpu);
GRAFT_REGISTER_KERNEL(kernels::batch_norm2d_forward_inference, CPU, kIsa, forward_inference_cpu);
GRAFT_REGISTER_KERNEL(kernels::batch_norm2d_backward, CPU, kIsa, backward_training_cpu);
GRAFT_REGISTER_KERNEL(kernels::increment_counter, CPU, kIsa, increment_counter_cpu);

}  // namespace graft
