// src/layers/conv2d.cpp — the conv2d op: checks, output shape, forward and backward (see
// conv2d.h for the math). The kernels are conv2d_cpu.cpp (im2col + GEMM, the reference),
// conv2d_cpu_batched.cpp (the fast CPU path) and conv2d_cudnn.cpp.
#include "layers/conv2d.h"

#include "autograd/engine.h"
#include "layers/bias.h"
#include "layers/init.h"
#include "tensor/check.h"

namespace graft {

GRAFT_DEFINE_KERNELS(conv2d_forward, conv2d_backward_input, conv2d_backward_weight);

Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
  auto out = [](int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
    return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1;
  };
  return {x[0], w[0], out(x[2], w[2], p.stride_h, p.pad_h, p.dil_h), out(x[3], w[3], p.stride_w, p.pad_w, p.dil_w)};
}

namespace {

void check_conv2d_args(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  check_dim("conv2d", "input", x, 4);
  check_dim("conv2d", "weight", w, 4);
  GRAFT_CHECK(x.size(1) == w.size(1), "conv2d", "input has ", x.size(1), " channels (shape ", x.shape(),
              ") but the weight expects ", w.size(1), " (weight shape ", w.shape(),
              "): check in_channels of this layer against the previous layer's output");
  if (b.defined()) {
    check_shape("conv2d", "bias", b, {w.size(0)});
    check_same_device("conv2d", x, b);
  }
  check_same_device("conv2d", x, w);
  GRAFT_CHECK(p.stride_h >= 1 && p.stride_w >= 1 && p.dil_h >= 1 && p.dil_w >= 1 && p.pad_h >= 0 && p.pad_w >= 0,
              "conv2d", "stride and dilation must be >= 1 and padding >= 0, got stride (", p.stride_h, ", ",
              p.stride_w, "), padding (", p.pad_h, ", ", p.pad_w, "), dilation (", p.dil_h, ", ", p.dil_w, ")");
  const int64_t eff_r = p.dil_h * (w.size(2) - 1) + 1, eff_s = p.dil_w * (w.size(3) - 1) + 1;
  const int64_t ph = x.size(2) + 2 * p.pad_h, pw = x.size(3) + 2 * p.pad_w;
  GRAFT_CHECK(eff_r <= ph && eff_s <= pw, "conv2d", "kernel ", eff_r, "x", eff_s,
              " (after dilation) is larger than the padded input ", ph, "x", pw, " (input shape ", x.shape(),
              ", weight shape ", w.shape(), "): use a larger input, more padding or a smaller kernel");
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  check_conv2d_args(x, w, b, p);
  const Device dev = x.device();
  Tensor y = Tensor::empty(conv2d_output_shape(x.shape(), w.shape(), p), DType::Float32, dev);
  kernels::conv2d_forward(dev, x, w, y, p);
  if (b.defined()) add_bias_(y, b);

  return record("conv2d", {x, w, b}, y, {x, w}, p, [](const Ctx<Conv2dParams>& ctx, const Tensor& gy) -> Grads {
    const Tensor &x = ctx.saved(0), &w = ctx.saved(1);
    const Device dev = gy.device();
    Tensor gx, gw, gb;
    if (ctx.needs_grad(0)) {  // dx = col2im(w^T dy)
      gx = Tensor::empty(x.shape(), DType::Float32, dev);
      kernels::conv2d_backward_input(dev, gy, w, gx, ctx.attrs);
    }
    if (ctx.needs_grad(1)) {  // dw = sum over n of dy_n cols_n^T
      gw = Tensor::empty(w.shape(), DType::Float32, dev);
      kernels::conv2d_backward_weight(dev, gy, x, gw, ctx.attrs);
    }
    if (ctx.needs_grad(2)) gb = bias_grad(gy, w.size(0));  // db = sum over n,p,q of dy
    return {gx, gw, gb};
  });
}

// ---- the module ---------------------------------------------------------------------------

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel_size, int64_t stride, int64_t padding, bool with_bias,
               int64_t dilation)
    : Conv2d(in, out, {kernel_size, kernel_size}, {stride, stride}, {padding, padding}, with_bias,
             {dilation, dilation}) {}

Conv2d::Conv2d(int64_t in, int64_t out, std::pair<int64_t, int64_t> kernel, std::pair<int64_t, int64_t> stride,
               std::pair<int64_t, int64_t> padding, bool with_bias, std::pair<int64_t, int64_t> dilation)
    : Module("Conv2d"), in_channels(in), out_channels(out) {
  params = {stride.first, stride.second, padding.first, padding.second, dilation.first, dilation.second};
  weight = register_parameter("weight", Tensor::empty({out, in, kernel.first, kernel.second}));
  default_weight_init_(weight);
  if (with_bias) {
    bias = register_parameter("bias", Tensor::empty({out}));
    default_bias_init_(bias, fan_in(weight));
  }
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, params); }

std::string Conv2d::extra_repr() const {
  auto pair = [](int64_t a, int64_t b) {
    std::string s = "(";  // appended piecewise: "(" + std::string trips GCC 12's -Wrestrict false positive
    s += std::to_string(a);
    s += ", ";
    s += std::to_string(b);
    return s + ")";
  };
  // PyTorch's format: padding and dilation only when not the default, bias only when absent.
  std::string s = std::to_string(in_channels) + ", " + std::to_string(out_channels) +
                  ", kernel_size=" + pair(weight.size(2), weight.size(3)) +
                  ", stride=" + pair(params.stride_h, params.stride_w);
  if (params.pad_h != 0 || params.pad_w != 0) s += ", padding=" + pair(params.pad_h, params.pad_w);
  if (params.dil_h != 1 || params.dil_w != 1) s += ", dilation=" + pair(params.dil_h, params.dil_w);
  if (!bias.defined()) s += ", bias=False";
  return s;
}

}  // namespace graft
