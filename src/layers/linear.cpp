// src/layers/linear.cpp — forward and backward of linear() (see linear.h).
#include "layers/linear.h"

#include "autograd/engine.h"
#include "layers/bias.h"
#include "layers/init.h"
#include "tensor/check.h"
#include "tensor/gemm.h"

namespace graft {

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_dim("linear", "input", x, 2);
  check_dim("linear", "weight", weight, 2);
  const int64_t N = x.size(0), in = x.size(1), out = weight.size(0);
  GRAFT_CHECK(weight.size(1) == in, "linear", "input has ", in, " features (shape ", x.shape(),
              ") but the weight expects ", weight.size(1), " (weight shape ", weight.shape(), ")");
  if (bias.defined()) check_shape("linear", "bias", bias, {out});
  check_same_device("linear", x, weight);
  const Device dev = x.device();

  // y[N,out] = x[N,in] * W[out,in]^T (+ b broadcast over rows)
  Tensor y = Tensor::empty({N, out}, DType::Float32, dev);
  gemm(dev, false, true, N, out, in, 1.0f, x.data(), weight.data(), 0.0f, y.data());
  if (bias.defined()) add_bias_(y, bias);

  return record("linear", {x, weight, bias}, y, {x, weight}, [](const Ctx<>& ctx, const Tensor& gy) -> Grads {
    const Tensor &x = ctx.saved(0), &w = ctx.saved(1);
    const int64_t N = x.size(0), in = x.size(1), out = w.size(0);
    const Device dev = gy.device();
    Tensor gx, gw, gb;
    if (ctx.needs_grad(0)) {  // dx[N,in] = dy[N,out] * W[out,in]
      gx = Tensor::empty({N, in}, DType::Float32, dev);
      gemm(dev, false, false, N, in, out, 1.0f, gy.data(), w.data(), 0.0f, gx.data());
    }
    if (ctx.needs_grad(1)) {  // dW[out,in] = dy^T[out,N] * x[N,in]
      gw = Tensor::empty({out, in}, DType::Float32, dev);
      gemm(dev, true, false, out, in, N, 1.0f, gy.data(), x.data(), 0.0f, gw.data());
    }
    if (ctx.needs_grad(2)) gb = bias_grad(gy, out);  // db[out] = sum over N of dy
    return {gx, gw, gb};
  });
}

Linear::Linear(int64_t in, int64_t out, bool with_bias) : Module("Linear"), in_features(in), out_features(out) {
  weight = register_parameter("weight", Tensor::empty({out, in}));
  default_weight_init_(weight);
  if (with_bias) {
    bias = register_parameter("bias", Tensor::empty({out}));
    default_bias_init_(bias, in);
  }
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features) + ", out_features=" + std::to_string(out_features) +
         ", bias=" + (bias.defined() ? "True" : "False");
}

}  // namespace graft
