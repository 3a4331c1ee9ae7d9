// src/layers/sync_batch_norm2d.cpp — forward and backward of sync_batch_norm2d (see the header).
#include "layers/sync_batch_norm2d.h"

#include <cmath>
#include <initializer_list>

#include "autograd/engine.h"
#include "tensor/check.h"

namespace graft {

namespace {
SumOverProcesses g_sync;

struct SyncAttrs {
  float eps = 0;
  double count = 0;  // M: values per channel over all processes
  SumOverProcesses sum;
};

// x[n, c, i] of an [N, C, HW] view; fn(c, index) over every value, channel by channel.
template <class Fn>
void for_each_value(int64_t N, int64_t C, int64_t HW, Fn fn) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) fn(c, (n * C + c) * HW + i);
}
}  // namespace

void set_batch_norm_sync(SumOverProcesses sum) { g_sync = std::move(sum); }
const SumOverProcesses& batch_norm_sync() { return g_sync; }

Tensor sync_batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                         Tensor& running_var, float momentum, float eps, const SumOverProcesses& sum) {
  check_dim("sync_batch_norm2d", "input", x, 4);
  GRAFT_CHECK(x.device() == Device::CPU, "sync_batch_norm2d", "synchronized batch norm runs on the CPU in this version");
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  for (const Tensor* t : std::initializer_list<const Tensor*>{&weight, &bias, &running_mean, &running_var})
    GRAFT_CHECK(t->defined() && t->shape() == Shape{C}, "sync_batch_norm2d", "input ", x.shape(), " has ", C,
                " channels; weight, bias and the running statistics need shape [", C, "]");
  const float* px = x.data();

  // The global mean: sums and counts of every process.
  std::vector<double> s(static_cast<size_t>(C) + 1, 0.0);
  for_each_value(N, C, HW, [&](int64_t c, int64_t k) { s[size_t(c)] += px[k]; });
  s[size_t(C)] = double(N * HW);
  sum(s);
  const double M = s[size_t(C)];
  GRAFT_CHECK(M > 1, "sync_batch_norm2d", "expected more than 1 value per channel when training, got ", M);
  std::vector<double> mean(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) mean[size_t(c)] = s[size_t(c)] / M;
  // The global (biased) variance, two-pass: squares of deviations from the global mean.
  std::vector<double> q(static_cast<size_t>(C), 0.0);
  for_each_value(N, C, HW, [&](int64_t c, int64_t k) {
    const double d = px[k] - mean[size_t(c)];
    q[size_t(c)] += d * d;
  });
  sum(q);

  Tensor save_mean = Tensor::empty({C}), save_invstd = Tensor::empty({C});
  float *rm = running_mean.data(), *rv = running_var.data();
  for (int64_t c = 0; c < C; ++c) {
    const double var = q[size_t(c)] / M;
    save_mean.data()[c] = float(mean[size_t(c)]);
    save_invstd.data()[c] = float(1.0 / std::sqrt(var + double(eps)));
    rm[c] = float((1 - double(momentum)) * rm[c] + double(momentum) * mean[size_t(c)]);
    rv[c] = float((1 - double(momentum)) * rv[c] + double(momentum) * var * M / (M - 1));  // unbiased
  }
  Tensor y = Tensor::empty(x.shape());
  const float *w = weight.data(), *b = bias.data(), *mu = save_mean.data(), *is = save_invstd.data();
  float* py = y.data();
  for_each_value(N, C, HW, [&](int64_t c, int64_t k) { py[k] = (px[k] - mu[c]) * is[c] * w[c] + b[c]; });

  return record("sync_batch_norm2d", {x, weight, bias}, y, {x, weight, save_mean, save_invstd},
                SyncAttrs{eps, M, sum}, [](const Ctx<SyncAttrs>& ctx, const Tensor& gy) -> Grads {
                  const Tensor &x = ctx.saved(0), &w = ctx.saved(1), &mean = ctx.saved(2), &invstd = ctx.saved(3);
                  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
                  const float *px = x.data(), *pg = gy.data(), *mu = mean.data(), *is = invstd.data();
                  // This process's sums of dy and dy * xhat: [sdy_0..sdy_C-1, sdyx_0..sdyx_C-1].
                  std::vector<double> local(2 * static_cast<size_t>(C), 0.0);
                  for_each_value(N, C, HW, [&](int64_t c, int64_t k) {
                    local[size_t(c)] += pg[k];
                    local[size_t(C + c)] += pg[k] * (px[k] - mu[c]) * is[c];
                  });
                  std::vector<double> global = local;
                  ctx.attrs.sum(global);  // every process calls it, whatever it needs
                  const double M = ctx.attrs.count;
                  Tensor gx, gw, gb;
                  if (ctx.needs_grad(0)) {
                    gx = Tensor::empty(x.shape());
                    float* out = gx.data();
                    const float* pw = w.data();
                    for_each_value(N, C, HW, [&](int64_t c, int64_t k) {
                      const double xhat = (px[k] - mu[c]) * is[c];
                      out[k] = float(pw[c] * is[c] *
                                     (pg[k] - global[size_t(c)] / M - xhat * global[size_t(C + c)] / M));
                    });
                  }
                  if (ctx.needs_grad(1) || ctx.needs_grad(2)) {
                    gw = Tensor::empty({C});
                    gb = Tensor::empty({C});
                    for (int64_t c = 0; c < C; ++c) {
                      gb.data()[c] = float(local[size_t(c)]);
                      gw.data()[c] = float(local[size_t(C + c)]);
                    }
                  }
                  return {gx, ctx.needs_grad(1) ? gw : Tensor(), ctx.needs_grad(2) ? gb : Tensor()};
                });
}

}  // namespace graft
