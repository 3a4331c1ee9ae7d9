// src/layers/concat.h — concatenation along channels (torch.cat(xs, dim=1)), DenseNet's join.
//
//   y[n, c0_i + c, ...] = x_i[n, c, ...],  c0_i = C_0 + ... + C_{i-1}
//   backward: dx_i = dy[:, c0_i : c0_i + C_i]  (only for inputs that require a gradient)
//
// xs: each [N,C_i,H,W] -> y: [N, sum C_i, H, W]. Channels of one image are contiguous, so
// both directions are N block copies of C_i*H*W floats per input (channel_copy).
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace graft {

// xs: each [N,C_i,H,W] (same N,H,W, same device) -> y: [N, sum C_i, H, W]
Tensor concat_channels(const std::vector<Tensor>& xs);

namespace cuda {  // copies C channels of HW elements for each of N images between two channel-strided buffers
// dst[n, dst_c0 + c, :] = src[n, src_c0 + c, :] for n < N, c < C; src has src_C channels, dst dst_C.
void channel_copy(const float* src, int64_t src_C, int64_t src_c0, float* dst, int64_t dst_C, int64_t dst_c0,
                  int64_t N, int64_t C, int64_t HW);
}  // namespace cuda

}  // namespace graft
