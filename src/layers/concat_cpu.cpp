// src/layers/concat_cpu.cpp — channel_copy on the CPU (concat.h): the channels of one image are
// contiguous, so it is one block copy of C*HW floats per image.
#include <cstring>

#include "layers/concat.h"

namespace graft {
namespace {

void channel_copy_cpu(const Tensor& src, int64_t src_c0, Tensor& dst, int64_t dst_c0, int64_t C) {
  const int64_t N = src.size(0), src_C = src.size(1), dst_C = dst.size(1);
  const int64_t HW = N * src_C > 0 ? src.numel() / (N * src_C) : 0;
  const float* ps = src.data();
  float* pd = dst.data();
#pragma omp parallel for if (N * C * HW > 65536)
  for (int64_t n = 0; n < N; ++n)
    std::memcpy(pd + (n * dst_C + dst_c0) * HW, ps + (n * src_C + src_c0) * HW, static_cast<size_t>(C * HW) * sizeof(float));
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::channel_copy, CPU, "reference", channel_copy_cpu);

}  // namespace graft
