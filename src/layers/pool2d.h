// src/layers/pool2d.h — max and average pooling over square-ish windows (nn.MaxPool2d, nn.AvgPool2d).
//
//   max: y[n,c,p,q] = max over the window of x        (padding never wins: it counts as -inf)
//   avg: y[n,c,p,q] = sum over the window of x / count (padding counts as 0; count is the
//        window area clipped to the padded input, or only real pixels if !count_include_pad)
//   window (p,q): rows p*sh - ph ... + kh - 1, columns q*sw - pw ... + kw - 1.
//   backward: max sends dy to the (first) argmax of its window; avg spreads dy / count over it.
//
// x: [N,C,H,W] -> y: [N,C,P,Q], P = pool_output_size(H, kh, sh, ph, 1, ceil_mode). The ops
// are pool2d.cpp; the kernels pool2d_cpu.cpp (loops parallel over the N*C planes) and
// pool2d.cu (graft's own kernels: see there why not cuDNN's pooling).
#pragma once

#include "layers/module.h"
#include "tensor/dispatch.h"

namespace graft {

struct Pool2dParams {
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h = 0, pad_w = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;  // average pooling only
};

// PyTorch's rule: floor((in + 2 pad - dil (k-1) - 1 [+ s-1 if ceil_mode]) / s) + 1; with
// ceil_mode, a last window that would start in the right padding is dropped.
int64_t pool_output_size(int64_t in, int64_t k, int64_t s, int64_t pad, int64_t dil, bool ceil_mode);

// x: [N,C,H,W] -> y: [N,C,P,Q]
Tensor max_pool2d(const Tensor& x, const Pool2dParams& p);
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p);

class MaxPool2d : public Module {  // type "MaxPool2d"
 public:
  MaxPool2d(int64_t kernel_size, int64_t stride = -1 /* = kernel */, int64_t padding = 0, bool ceil_mode = false);
  std::string extra_repr() const override;  // "kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False"
  Pool2dParams params;

 protected:
  Tensor forward(const Tensor& x) override;
};

class AvgPool2d : public Module {  // type "AvgPool2d"
 public:
  AvgPool2d(int64_t kernel_size, int64_t stride = -1 /* = kernel */, int64_t padding = 0, bool ceil_mode = false,
            bool count_include_pad = true);
  std::string extra_repr() const override;  // "kernel_size=2, stride=2, padding=0"
  Pool2dParams params;

 protected:
  Tensor forward(const Tensor& x) override;
};

// The kernels; outputs preallocated by the op with the right shape (and overwritten).
namespace kernels {
// x: [N,C,H,W] -> y: [N,C,P,Q]. Returns what the backward needs besides x when for_backward
// (the CPU: Int64 [N,C,P,Q] argmax indices; CUDA: nothing, it finds the winners again in x).
GRAFT_DECLARE_KERNEL(max_pool2d_forward, Tensor(const Tensor& x, Tensor& y, const Pool2dParams& p, bool for_backward));
// gy: [N,C,P,Q] -> gx: [N,C,H,W]; `saved` is what the forward returned.
GRAFT_DECLARE_KERNEL(max_pool2d_backward,
                     void(const Tensor& x, const Tensor& saved, const Tensor& gy, Tensor& gx, const Pool2dParams& p));
GRAFT_DECLARE_KERNEL(avg_pool2d_forward, void(const Tensor& x, Tensor& y, const Pool2dParams& p));
GRAFT_DECLARE_KERNEL(avg_pool2d_backward, void(const Tensor& gy, Tensor& gx, const Pool2dParams& p));
}  // namespace kernels

}  // namespace graft
