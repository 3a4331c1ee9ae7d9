// src/layers/loss.cpp — forward and backward of the losses in loss.h.
//
// Each loss is a differentiable op that checks its inputs, calls its forward kernel and records
// its backward right beneath. Kernels: loss_cpu.cpp, loss.cu.
#include "layers/loss.h"

#include "autograd/engine.h"
#include "tensor/check.h"

namespace graft {

const char* reduction_name(Reduction r) {
  switch (r) {
    case Reduction::Mean:
      return "mean";
    case Reduction::Sum:
      return "sum";
    case Reduction::None:
      return "none";
  }
  return "?";
}

GRAFT_DEFINE_KERNELS(nll_forward, nll_backward, cross_entropy_forward, cross_entropy_backward, bce_forward,
                     bce_backward, bce_with_logits_forward, bce_with_logits_backward);

namespace {

void check_float(const char* op, const char* what, const Tensor& t) {
  GRAFT_CHECK(t.dtype() == DType::Float32, op, what, " must be float32, got ", t);
}

// The target of a loss is data, not a parameter: refuse to silently drop its gradient.
void check_no_grad(const char* op, const char* what, const Tensor& t) {
  GRAFT_CHECK(!(t.defined() && t.requires_grad() && grad_enabled()), op, "no gradient is computed with respect to ",
              what, " (", t, "); pass ", what, ".detach()");
}

// Checks shared by nll_loss and cross_entropy: x [N,L], target Int64 [N], weight [L].
void check_class_inputs(const char* op, const Tensor& x, const Tensor& target, const Tensor& weight) {
  check_float(op, "input", x);
  check_dim(op, "input", x, 2);
  const int64_t N = x.size(0), L = x.size(1);
  GRAFT_CHECK(target.dtype() == DType::Int64, op, "target must hold Int64 class indices of shape [", N, "], got ",
              target, " (build it with Tensor::from_labels; use bce_with_logits for float targets)");
  GRAFT_CHECK(target.shape() == Shape{N}, op, "target must have shape [", N, "] (one label per row of input ",
              x.shape(), "), got ", target.shape());
  check_same_device(op, x, target);
  if (weight.defined()) {
    check_float(op, "weight", weight);
    check_shape(op, "weight (one per class)", weight, {L});
    check_same_device(op, x, weight);
  }
  check_no_grad(op, "target", target);
  check_no_grad(op, "weight", weight);
}

// BCE: target (and weight) float32 with the input's shape.
void check_binary_inputs(const char* op, const Tensor& x, const Tensor& target, const Tensor& weight) {
  check_float(op, "input", x);
  GRAFT_CHECK(target.dtype() == DType::Float32, op, "target must be float32 (0/1 or probabilities) with the input's ",
              "shape ", x.shape(), ", got ", target);
  check_same_shape(op, x, target);
  check_same_device(op, x, target);
  if (weight.defined()) {
    check_float(op, "weight", weight);
    check_same_device(op, x, weight);
  }
  check_no_grad(op, "target", target);
  check_no_grad(op, "weight", weight);
}

Shape output_shape(Reduction r, const Shape& unreduced) { return r == Reduction::None ? unreduced : Shape{}; }

}  // namespace

// =========================================================================================
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight, Reduction r) {
  check_class_inputs("nll_loss", log_probs, target, weight);
  const Device dev = log_probs.device();
  Tensor loss = Tensor::empty(output_shape(r, {log_probs.size(0)}), DType::Float32, dev);
  Tensor total_weight = Tensor::empty({}, DType::Float32, dev);  // the Mean denominator, kept on the device
  kernels::nll_forward(dev, log_probs, target, weight, r, loss, total_weight);

  return record("nll_loss", {log_probs}, loss, {target, weight, total_weight}, r,
                [](const Ctx<Reduction>& ctx, const Tensor& gy) -> Grads {
                  Tensor g = Tensor::empty(ctx.input_shape(0), DType::Float32, gy.device());
                  kernels::nll_backward(gy.device(), ctx.saved(0), ctx.saved(1), gy, ctx.saved(2), ctx.attrs, g);
                  return {g};
                });
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight, Reduction r) {
  check_class_inputs("cross_entropy", logits, target, weight);
  const int64_t N = logits.size(0);
  const Device dev = logits.device();
  Tensor loss = Tensor::empty(output_shape(r, {N}), DType::Float32, dev);
  Tensor total_weight = Tensor::empty({}, DType::Float32, dev);
  // Row statistics for the backward: max and log(sum(exp(x - max))), kept apart because their
  // sum (the log-sum-exp) rounded to float loses digits when logits are large (1000 + 0.3).
  Tensor row_max = Tensor::empty({N}, DType::Float32, dev), row_logsum = Tensor::empty({N}, DType::Float32, dev);
  kernels::cross_entropy_forward(dev, logits, target, weight, r, loss, total_weight, row_max, row_logsum);

  return record("cross_entropy", {logits}, loss, {logits, row_max, row_logsum, target, weight, total_weight}, r,
                [](const Ctx<Reduction>& ctx, const Tensor& gy) -> Grads {
                  const Tensor& logits = ctx.saved(0);
                  Tensor g = Tensor::empty(logits.shape(), DType::Float32, gy.device());
                  kernels::cross_entropy_backward(gy.device(), logits, ctx.saved(1), ctx.saved(2), ctx.saved(3),
                                                  ctx.saved(4), gy, ctx.saved(5), ctx.attrs, g);
                  return {g};  // w[t] * dL/dl * (softmax - onehot)
                });
}

Tensor bce_loss(const Tensor& probs, const Tensor& target, const Tensor& weight, Reduction r) {
  check_binary_inputs("bce_loss", probs, target, weight);
  if (weight.defined()) check_shape("bce_loss", "weight", weight, probs.shape());
  Tensor loss = Tensor::empty(output_shape(r, probs.shape()), DType::Float32, probs.device());
  kernels::bce_forward(probs.device(), probs, target, weight, r, loss);

  return record("bce_loss", {probs}, loss, {probs, target, weight}, r,
                [](const Ctx<Reduction>& ctx, const Tensor& gy) -> Grads {
                  const Tensor& probs = ctx.saved(0);
                  Tensor g = Tensor::empty(probs.shape(), DType::Float32, gy.device());
                  kernels::bce_backward(gy.device(), probs, ctx.saved(1), ctx.saved(2), gy, ctx.attrs, g);
                  return {g};
                });
}

Tensor bce_with_logits(const Tensor& logits, const Tensor& target, const Tensor& pos_weight, Reduction r) {
  check_binary_inputs("bce_with_logits", logits, target, pos_weight);
  const int64_t L = logits.dim() > 0 ? logits.size(-1) : 1;
  if (pos_weight.defined()) check_shape("bce_with_logits", "pos_weight (one per class, the last dim)", pos_weight, {L});
  Tensor loss = Tensor::empty(output_shape(r, logits.shape()), DType::Float32, logits.device());
  kernels::bce_with_logits_forward(logits.device(), logits, target, pos_weight, r, loss);

  return record("bce_with_logits", {logits}, loss, {logits, target, pos_weight}, r,
                [](const Ctx<Reduction>& ctx, const Tensor& gy) -> Grads {
                  const Tensor& logits = ctx.saved(0);
                  Tensor g = Tensor::empty(logits.shape(), DType::Float32, gy.device());
                  kernels::bce_with_logits_backward(gy.device(), logits, ctx.saved(1), ctx.saved(2), gy, ctx.attrs, g);
                  return {g};
                });
}

}  // namespace graft
