// src/layers/conv2d.h — 2-D convolution (cross-correlation, as PyTorch's nn.Conv2d).
//
//   y[n,k,p,q] = b[k] + sum_{c,r,s} w[k,c,r,s] * x[n, c, p*sh - ph + r*dh, q*sw - pw + s*dw]
//   (x is zero outside [0,H) x [0,W]),  P = (H + 2ph - dh(R-1) - 1) / sh + 1, same for Q.
//   backward: dx = col2im(w^T dy),  dw = sum over n of dy_n cols_n^T,  db = sum over n,p,q of dy.
//
// x: [N,C,H,W], w: [K,C,R,S], b: [K] -> y: [N,K,P,Q]. The op is conv2d.cpp; its kernels are
// im2col + GEMM on the CPU (conv2d_cpu.cpp, the reference; conv2d_cpu_batched.cpp, the batch
// split over threads) and cuDNN on the GPU (conv2d_cudnn.cpp).
#pragma once

#include <utility>

#include "layers/module.h"
#include "tensor/dispatch.h"

namespace graft {

struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
};

// x: [N,C,H,W], w: [K,C,R,S], b: [K] or undefined -> y: [N,K,P,Q]
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p);
// [N,K,P,Q] for x: [N,C,H,W] and w: [K,C,R,S] (the formula above).
Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p);

class Conv2d : public Module {  // type "Conv2d"
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1,
         int64_t padding = 0, bool bias = true, int64_t dilation = 1);
  Conv2d(int64_t in_channels, int64_t out_channels, std::pair<int64_t, int64_t> kernel,
         std::pair<int64_t, int64_t> stride = {1, 1}, std::pair<int64_t, int64_t> padding = {0, 0},
         bool bias = true, std::pair<int64_t, int64_t> dilation = {1, 1});
  // "3, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)" as PyTorch prints it.
  std::string extra_repr() const override;

  int64_t in_channels, out_channels;
  Conv2dParams params;
  Tensor weight, bias;  // weight: [K,C,R,S], bias: [K] (undefined when bias=false)

 protected:
  Tensor forward(const Tensor& x) override;
};

// The kernels; outputs preallocated by the op with the right shape and overwritten. The bias
// is not theirs: add_bias_ / bias_grad (bias.h).
namespace kernels {
// x: [N,C,H,W], w: [K,C,R,S] -> y: [N,K,P,Q]
GRAFT_DECLARE_KERNEL(conv2d_forward, void(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p));
// gy: [N,K,P,Q], w: [K,C,R,S] -> gx: [N,C,H,W]
GRAFT_DECLARE_KERNEL(conv2d_backward_input,
                     void(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p));
// gy: [N,K,P,Q], x: [N,C,H,W] -> gw: [K,C,R,S]
GRAFT_DECLARE_KERNEL(conv2d_backward_weight,
                     void(const Tensor& gy, const Tensor& x, Tensor& gw, const Conv2dParams& p));
}  // namespace kernels

}  // namespace graft
