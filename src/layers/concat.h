// src/layers/concat.h — concatenation along channels (torch.cat(xs, dim=1)), DenseNet's join.
//
//   y[n, c0_i + c, ...] = x_i[n, c, ...],  c0_i = C_0 + ... + C_{i-1}
//   backward: dx_i = dy[:, c0_i : c0_i + C_i]  (only for inputs that require a gradient)
//
// xs: each [N,C_i,H,W] -> y: [N, sum C_i, H, W]. Channels of one image are contiguous, so
// both directions are N block copies of C_i*H*W floats per input (channel_copy).
#pragma once

#include <vector>

#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace graft {

// xs: each [N,C_i,H,W] (same N,H,W, same device) -> y: [N, sum C_i, H, W]
Tensor concat_channels(const std::vector<Tensor>& xs);

namespace kernels {  // concat_cpu.cpp, concat.cu
// dst[n, dst_c0 + c, ...] = src[n, src_c0 + c, ...] for c < C: src [N,src_C,...], dst [N,dst_C,...]
GRAFT_DECLARE_KERNEL(channel_copy, void(const Tensor& src, int64_t src_c0, Tensor& dst, int64_t dst_c0, int64_t C));
}  // namespace kernels

}  // namespace graft
