// src/autograd/ops.cpp — forward and backward of the primitives in ops.h.
#include "autograd/ops.h"

#include "autograd/engine.h"
#include "tensor/check.h"
#include "tensor/elementwise.h"

namespace graft {

Tensor operator+(const Tensor& a, const Tensor& b) {
  Tensor y = add(a, b);
  return record("add", {a, b}, y, {}, [](const Ctx<>&, const Tensor& gy) -> Grads { return {gy, gy}; });
}

Tensor operator-(const Tensor& a, const Tensor& b) {
  Tensor y = sub(a, b);
  return record("sub", {a, b}, y, {}, [](const Ctx<>& ctx, const Tensor& gy) -> Grads {
    return {gy, ctx.needs_grad(1) ? scale(gy, -1.0f) : Tensor()};
  });
}

Tensor operator*(const Tensor& a, const Tensor& b) {
  Tensor y = mul(a, b);
  return record("mul", {a, b}, y, {a, b}, [](const Ctx<>& ctx, const Tensor& gy) -> Grads {
    return {ctx.needs_grad(0) ? mul(gy, ctx.saved(1)) : Tensor(),   // d/da = b
            ctx.needs_grad(1) ? mul(gy, ctx.saved(0)) : Tensor()};  // d/db = a
  });
}

namespace {
struct ScaleAttrs {
  float s;
};
}  // namespace

Tensor operator*(const Tensor& a, float s) {
  Tensor y = scale(a, s);
  return record("scale", {a}, y, {}, ScaleAttrs{s},
                [](const Ctx<ScaleAttrs>& ctx, const Tensor& gy) -> Grads { return {scale(gy, ctx.attrs.s)}; });
}

Tensor sum(const Tensor& a) {
  Tensor y = sum_all(a);
  return record("sum", {a}, y, {}, [](const Ctx<>& ctx, const Tensor& gy) -> Grads {
    // dL/da_i = dL/dy for every i: broadcast the scalar back to a's shape.
    Tensor g = Tensor::empty(ctx.input_shape(0), DType::Float32, gy.device());
    g.fill_(gy.item());
    return {g};
  });
}

Tensor mean(const Tensor& a) { return sum(a) * (1.0f / static_cast<float>(a.numel())); }

Tensor reshape(const Tensor& x, const Shape& shape) { return x.view(shape); }

Tensor flatten(const Tensor& x) {
  GRAFT_CHECK(x.dim() >= 1, "flatten", "expected at least 1 dimension, got a scalar");
  return x.view({x.size(0), -1});
}

}  // namespace graft
