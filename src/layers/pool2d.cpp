// src/layers/pool2d.cpp — the max_pool2d and avg_pool2d ops: checks, output shape, forward and
// backward (see pool2d.h for the math). Kernels: pool2d_cpu.cpp, pool2d.cu.
#include "layers/pool2d.h"

#include "autograd/engine.h"
#include "tensor/check.h"

namespace graft {

GRAFT_DEFINE_KERNELS(max_pool2d_forward, max_pool2d_backward, avg_pool2d_forward, avg_pool2d_backward);

namespace {

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

std::string pool_params_str(const Pool2dParams& p) {
  return "kernel (" + std::to_string(p.kernel_h) + ", " + std::to_string(p.kernel_w) + "), stride (" +
         std::to_string(p.stride_h) + ", " + std::to_string(p.stride_w) + "), padding (" + std::to_string(p.pad_h) +
         ", " + std::to_string(p.pad_w) + ")";
}

// Checks x and p; returns the output shape [N,C,P,Q].
Shape pool_output_shape(const char* op, const Tensor& x, const Pool2dParams& p) {
  check_dim(op, "input", x, 4);
  GRAFT_CHECK(p.kernel_h >= 1 && p.kernel_w >= 1 && p.stride_h >= 1 && p.stride_w >= 1 && p.pad_h >= 0 &&
                  p.pad_w >= 0,
              op, "kernel and stride must be >= 1 and padding >= 0, got ", pool_params_str(p));
  GRAFT_CHECK(2 * p.pad_h <= p.kernel_h && 2 * p.pad_w <= p.kernel_w, op,  // as PyTorch
              "padding must be at most half the kernel size, got ", pool_params_str(p));
  const int64_t P = pool_output_size(x.size(2), p.kernel_h, p.stride_h, p.pad_h, 1, p.ceil_mode);
  const int64_t Q = pool_output_size(x.size(3), p.kernel_w, p.stride_w, p.pad_w, 1, p.ceil_mode);
  GRAFT_CHECK(P >= 1 && Q >= 1, op, "the window is larger than the padded input (input shape ", x.shape(), ", ",
              pool_params_str(p), ", output would be ", P, "x", Q, "): use a larger input or a smaller kernel");
  return {x.size(0), x.size(1), P, Q};
}

}  // namespace

int64_t pool_output_size(int64_t in, int64_t k, int64_t s, int64_t pad, int64_t dil, bool ceil_mode) {
  int64_t out = floor_div(in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && (out - 1) * s >= in + pad) --out;  // the last window must start inside input or left pad
  return out;
}

// ---- max pooling --------------------------------------------------------------------------

Tensor max_pool2d(const Tensor& x, const Pool2dParams& p) {
  Tensor y = Tensor::empty(pool_output_shape("max_pool2d", x, p), DType::Float32, x.device());
  // What the backward needs besides x (the CPU's argmax; nothing on CUDA), only if it will run.
  const Tensor argmax = kernels::max_pool2d_forward(x.device(), x, y, p, needs_grad({x}));

  return record("max_pool2d", {x}, y, {x, argmax}, p, [](const Ctx<Pool2dParams>& ctx, const Tensor& gy) -> Grads {
    const Tensor& x = ctx.saved(0);
    Tensor gx = Tensor::empty(x.shape(), DType::Float32, gy.device());
    kernels::max_pool2d_backward(gy.device(), x, ctx.saved(1), gy, gx, ctx.attrs);  // dy to each window's winner
    return {gx};
  });
}

// ---- average pooling ----------------------------------------------------------------------

Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p) {
  Tensor y = Tensor::empty(pool_output_shape("avg_pool2d", x, p), DType::Float32, x.device());
  kernels::avg_pool2d_forward(x.device(), x, y, p);

  return record("avg_pool2d", {x}, y, {}, p, [](const Ctx<Pool2dParams>& ctx, const Tensor& gy) -> Grads {
    Tensor gx = Tensor::empty(ctx.input_shape(0), DType::Float32, gy.device());
    kernels::avg_pool2d_backward(gy.device(), gy, gx, ctx.attrs);  // dy / count over each window
    return {gx};
  });
}

// ---- modules --------------------------------------------------------------------------------

MaxPool2d::MaxPool2d(int64_t k, int64_t stride, int64_t padding, bool ceil_mode) : Module("MaxPool2d") {
  const int64_t s = stride < 0 ? k : stride;
  params = {k, k, s, s, padding, padding, ceil_mode, true};
}

Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, params); }

std::string MaxPool2d::extra_repr() const {
  return "kernel_size=" + std::to_string(params.kernel_h) + ", stride=" + std::to_string(params.stride_h) +
         ", padding=" + std::to_string(params.pad_h) +
         ", dilation=1, ceil_mode=" + (params.ceil_mode ? "True" : "False");
}

AvgPool2d::AvgPool2d(int64_t k, int64_t stride, int64_t padding, bool ceil_mode, bool count_include_pad)
    : Module("AvgPool2d") {
  const int64_t s = stride < 0 ? k : stride;
  params = {k, k, s, s, padding, padding, ceil_mode, count_include_pad};
}

Tensor AvgPool2d::forward(const Tensor& x) { return avg_pool2d(x, params); }

std::string AvgPool2d::extra_repr() const {
  return "kernel_size=" + std::to_string(params.kernel_h) + ", stride=" + std::to_string(params.stride_h) +
         ", padding=" + std::to_string(params.pad_h);
}

}  // namespace graft
