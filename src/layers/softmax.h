// src/layers/softmax.h — softmax and log-softmax over the classes of a batch of logits.
//
//   x, y: [N, L]; per row, with m = max_j x_j and s = sum_j exp(x_j - m):
//   softmax:     y_i = exp(x_i - m) / s          dx = y * (dy - sum_j dy_j y_j)
//   log_softmax: y_i = x_i - m - log(s)          dx = dy - exp(y) * sum_j dy_j
// Design note: subtracting the row maximum first makes every exp argument <= 0, so logits of
// 1000 neither overflow nor lose the answer (exp(1000) is inf in float32). Both backward passes
// read the output y only.
#pragma once

#include "layers/module.h"
#include "tensor/dispatch.h"

namespace graft {

Tensor softmax(const Tensor& x);      // x: [N,L] -> y: [N,L], rows sum to 1
Tensor log_softmax(const Tensor& x);  // x: [N,L] -> y: [N,L], stable (subtracts the row max)

// nn.Softmax(dim) / nn.LogSoftmax(dim): only dim 1 (or -1, the same thing for 2-D input) is
// supported; any other dim throws at construction.
class Softmax : public Module {
 public:
  explicit Softmax(int64_t dim = 1);
  std::string extra_repr() const override;
  int64_t dim;

 protected:
  Tensor forward(const Tensor& x) override;
};

class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(int64_t dim = 1);
  std::string extra_repr() const override;
  int64_t dim;

 protected:
  Tensor forward(const Tensor& x) override;
};

namespace kernels {  // softmax_cpu.cpp, softmax.cu; y, gx preallocated: [N,L]. log: log_softmax.
GRAFT_DECLARE_KERNEL(softmax_forward, void(const Tensor& x, Tensor& y, bool log));
GRAFT_DECLARE_KERNEL(softmax_backward, void(const Tensor& y, const Tensor& gy, Tensor& gx, bool log));
}  // namespace kernels

}  // namespace graft
