// src/layers/adaptive_avg_pool2d.h — average pooling to a fixed output size (nn.AdaptiveAvgPool2d).
//
//   y[n,c,i,j] = mean of x[n,c, h0(i):h1(i), w0(j):w1(j)]
//   h0(i) = floor(i*H/OH), h1(i) = ceil((i+1)*H/OH)   (PyTorch's bins; they overlap when OH
//   does not divide H, and repeat pixels when OH > H), same for columns.
//   backward: every pixel of bin (i,j) receives dy[n,c,i,j] / bin area.
//
// x: [N,C,H,W] -> y: [N,C,OH,OW]. VGG pools to 7x7 (a no-op on 224x224 inputs), ResNet and
// DenseNet to 1x1, which takes a fast path: the mean of each plane.
#pragma once

#include "layers/module.h"
#include "tensor/dispatch.h"

namespace graft {

// x: [N,C,H,W] -> y: [N,C,out_h,out_w]
Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w);

class AdaptiveAvgPool2d : public Module {  // type "AdaptiveAvgPool2d"
 public:
  AdaptiveAvgPool2d(int64_t out_h, int64_t out_w);  // repr "output_size=(7, 7)"
  explicit AdaptiveAvgPool2d(int64_t out);          // repr "output_size=1"
  std::string extra_repr() const override;
  int64_t out_h, out_w;

 protected:
  Tensor forward(const Tensor& x) override;

 private:
  bool square_int_ = false;  // constructed from one int: PyTorch prints it as an int
};

namespace kernels {  // outputs preallocated by the op with the right shape (and overwritten)
GRAFT_DECLARE_KERNEL(adaptive_avg_pool2d_forward, void(const Tensor& x, Tensor& y));     // [N,C,H,W] -> [N,C,OH,OW]
GRAFT_DECLARE_KERNEL(adaptive_avg_pool2d_backward, void(const Tensor& gy, Tensor& gx));  // [N,C,OH,OW] -> [N,C,H,W]
}  // namespace kernels

}  // namespace graft
