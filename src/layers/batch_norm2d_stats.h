// src/layers/batch_norm2d_stats.h — one channel's batch statistics, shared by batch norm's CPU
// forward (batch_norm2d_cpu.cpp) and the fused batch norm + add + ReLU (conv_bn_cpu.cpp).
#pragma once

#include <cstdint>

namespace graft::bn_cpu {
// An anonymous namespace, though this is a header: the including files are compiled once per
// instruction set (tensor/cpu_isa.h), and each copy must keep its own functions.
namespace {

struct ChannelStats {
  double mean;    // over the N*HW values of the channel
  double sum_sq;  // sum of squared deviations from the mean
};

// Channel c of x [N,C,HW]: two passes (mean, then squared deviations) in double, so there is no
// cancellation as in E[x^2]-E[x]^2. Called inside the caller's parallel loop over channels.
inline ChannelStats channel_stats(const float* px, int64_t N, int64_t C, int64_t HW, int64_t c) {
  double s = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    const float* row = px + (n * C + c) * HW;
#pragma omp simd reduction(+ : s)  // lets the compiler reorder (vectorize) the double sum
    for (int64_t i = 0; i < HW; ++i) s += row[i];
  }
  const double mean = s / static_cast<double>(N * HW);
  double ss = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    const float* row = px + (n * C + c) * HW;
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < HW; ++i) {
      const double d = row[i] - mean;
      ss += d * d;
    }
  }
  return {mean, ss};
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
