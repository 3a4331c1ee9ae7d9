// src/layers/linear.h — fully connected layer: y = x W^T + b.
//
//   x: [N, in], weight: [out, in], bias: [out] -> y: [N, out]
//   backward: dx = dy W,  dW = dy^T x,  db = sum over N of dy
// All three products are GEMMs (src/tensor/gemm.h): Eigen on the CPU, cuBLAS on the GPU.
#pragma once

#include "layers/module.h"

namespace graft {

// The differentiable op. bias may be undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  std::string extra_repr() const override;

  int64_t in_features, out_features;
  Tensor weight, bias;

 protected:
  Tensor forward(const Tensor& x) override;
};

}  // namespace graft
