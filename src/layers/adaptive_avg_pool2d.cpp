// src/layers/adaptive_avg_pool2d.cpp — the adaptive_avg_pool2d op (see the header); kernels:
// adaptive_avg_pool2d_cpu.cpp, adaptive_avg_pool2d.cu.
#include "layers/adaptive_avg_pool2d.h"

#include "autograd/engine.h"
#include "tensor/check.h"

namespace graft {

GRAFT_DEFINE_KERNELS(adaptive_avg_pool2d_forward, adaptive_avg_pool2d_backward);

Tensor adaptive_avg_pool2d(const Tensor& x, int64_t OH, int64_t OW) {
  check_dim("adaptive_avg_pool2d", "input", x, 4);
  GRAFT_CHECK(OH >= 1 && OW >= 1, "adaptive_avg_pool2d", "output size must be at least 1x1, got ", OH, "x", OW);
  GRAFT_CHECK(x.size(2) >= 1 && x.size(3) >= 1, "adaptive_avg_pool2d", "input ", x.shape(),
              " has an empty plane: nothing to average");
  Tensor y = Tensor::empty({x.size(0), x.size(1), OH, OW}, DType::Float32, x.device());
  kernels::adaptive_avg_pool2d_forward(x.device(), x, y);

  return record("adaptive_avg_pool2d", {x}, y, {}, [](const Ctx<>& ctx, const Tensor& gy) -> Grads {
    Tensor gx = Tensor::empty(ctx.input_shape(0), DType::Float32, gy.device());
    kernels::adaptive_avg_pool2d_backward(gy.device(), gy, gx);  // dy / bin area to every pixel of the bin
    return {gx};
  });
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(int64_t h, int64_t w) : Module("AdaptiveAvgPool2d"), out_h(h), out_w(w) {}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(int64_t out) : AdaptiveAvgPool2d(out, out) { square_int_ = true; }

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) { return adaptive_avg_pool2d(x, out_h, out_w); }

std::string AdaptiveAvgPool2d::extra_repr() const {
  if (square_int_) return "output_size=" + std::to_string(out_h);
  return "output_size=(" + std::to_string(out_h) + ", " + std::to_string(out_w) + ")";
}

}  // namespace graft
