// src/layers/softmax.cpp — forward and backward of softmax() and log_softmax() (see softmax.h);
// kernels: softmax_cpu.cpp, softmax.cu.
#include "layers/softmax.h"

#include "autograd/engine.h"
#include "tensor/check.h"

namespace graft {

GRAFT_DEFINE_KERNELS(softmax_forward, softmax_backward);

namespace {

struct SoftmaxAttrs {
  bool log;
};

// Shared by both ops: `log` picks the variant.
Tensor softmax_op(const Tensor& x, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  GRAFT_CHECK(x.dim() == 2, name, "expected logits [N, L] (2-D), got shape ", x.shape(), "; flatten the input first");
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  kernels::softmax_forward(x.device(), x, y, log);
  return record(name, {x}, y, {y}, SoftmaxAttrs{log}, [](const Ctx<SoftmaxAttrs>& ctx, const Tensor& gy) -> Grads {
    const Tensor& y = ctx.saved(0);  // both backward passes read the output only
    Tensor gx = Tensor::empty(y.shape(), DType::Float32, gy.device());
    kernels::softmax_backward(gy.device(), y, gy, gx, ctx.attrs.log);
    return {gx};
  });
}

int64_t check_softmax_dim(const char* module, int64_t dim) {
  GRAFT_CHECK(dim == 1 || dim == -1, module, "only dim=1 (or dim=-1) over [N, L] logits is supported, got dim=", dim,
              "; reshape the input so the classes are dim 1");
  return dim;
}

}  // namespace

Tensor softmax(const Tensor& x) { return softmax_op(x, false); }
Tensor log_softmax(const Tensor& x) { return softmax_op(x, true); }

Softmax::Softmax(int64_t dim_) : Module("Softmax"), dim(check_softmax_dim("Softmax", dim_)) {}
Tensor Softmax::forward(const Tensor& x) { return softmax(x); }
std::string Softmax::extra_repr() const { return "dim=" + std::to_string(dim); }

LogSoftmax::LogSoftmax(int64_t dim_) : Module("LogSoftmax"), dim(check_softmax_dim("LogSoftmax", dim_)) {}
Tensor LogSoftmax::forward(const Tensor& x) { return log_softmax(x); }
std::string LogSoftmax::extra_repr() const { return "dim=" + std::to_string(dim); }

}  // namespace graft
