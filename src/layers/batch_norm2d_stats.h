// src/layers/batch_norm2d_stats.h — one channel's batch statistics, shared by batch norm's CPU
// forward (batch_norm2d_cpu.cpp) and the fused batch norm + add + ReLU (conv_bn_cpu.cpp).
#pragma once

#include <algorithm>
#include <cstdint>

namespace graft::bn_cpu {
// An anonymous namespace, though this is a header: the including files are compiled once per
// instruction set (tensor/cpu_isa.h), and each copy must keep its own functions.
namespace {

struct ChannelStats {
  double mean;    // over the N*HW values of the channel
  double sum_sq;  // sum of squared deviations from the mean
};

// Channel c of x [N,C,HW] in one pass, in double, shifted by the channel's first value x0:
//   s1 = sum(x - x0),  s2 = sum((x - x0)^2),  mean = x0 + s1/M,  sum_sq = s2 - s1^2/M.
// E[x^2] - E[x]^2 cancels badly in float; here the sums are double (53 bits for float data of
// 24) and the shift keeps s1^2/M of the size of s2 whenever x0 is a typical value, so the
// cancellation costs a few bits of the 29 spare ones (mean 500, spread 0.1: exact to ~1e-12
// of the variance; tests/test_batch_norm.cpp checks such a channel against PyTorch). One pass
// over x instead of two: the statistics were 6% of a DenseNet121 training step.
// Called inside the caller's parallel loop over channels.
inline ChannelStats channel_stats(const float* px, int64_t N, int64_t C, int64_t HW, int64_t c) {
  const int64_t M = N * HW;
  if (M == 0) return {0.0, 0.0};
  const double x0 = px[c * HW];
  double s1 = 0.0, s2 = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    const float* row = px + (n * C + c) * HW;
#pragma omp simd reduction(+ : s1, s2)  // lets the compiler reorder (vectorize) the double sums
    for (int64_t i = 0; i < HW; ++i) {
      const double d = row[i] - x0;
      s1 += d;
      s2 += d * d;
    }
  }
  const double m = static_cast<double>(M);
  return {x0 + s1 / m, std::max(0.0, s2 - s1 * s1 / m)};
}

// running = (1 - momentum) * running + momentum * batch; running_var tracks the UNBIASED
// variance (sum_sq / (M - 1)), as PyTorch does. Either pointer may be null (not tracked).
inline void update_running_stats(float* prm, float* prv, int64_t c, const ChannelStats& st, int64_t M,
                                 float momentum) {
  if (prm) prm[c] = static_cast<float>((1.0 - momentum) * prm[c] + momentum * st.mean);
  if (prv) prv[c] = static_cast<float>((1.0 - momentum) * prv[c] + momentum * (st.sum_sq / static_cast<double>(M - 1)));
}

}  // namespace
}  // namespace graft::bn_cpu
