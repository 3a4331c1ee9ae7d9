// src/autograd/ops.cpp — forward and backward of the primitives in ops.h.
#include "autograd/ops.h"

#include "autograd/engine.h"
#include "tensor/elementwise.h"

namespace graft {

Tensor operator+(const Tensor& a, const Tensor& b) {
  Tensor y = add(a, b);
  return record(y, "add", {a, b}, [](const Tensor& gy) { return std::vector<Tensor>{gy, gy}; });
}

Tensor operator-(const Tensor& a, const Tensor& b) {
  Tensor y = sub(a, b);
  return record(y, "sub", {a, b}, [](const Tensor& gy) { return std::vector<Tensor>{gy, scale(gy, -1.0f)}; });
}

Tensor operator*(const Tensor& a, const Tensor& b) {
  Tensor y = mul(a, b);
  return record(y, "mul", {a, b}, [a, b](const Tensor& gy) {
    return std::vector<Tensor>{a.requires_grad() ? mul(gy, b) : Tensor(),
                               b.requires_grad() ? mul(gy, a) : Tensor()};
  });
}

Tensor operator*(const Tensor& a, float s) {
  Tensor y = scale(a, s);
  return record(y, "scale", {a}, [s](const Tensor& gy) { return std::vector<Tensor>{scale(gy, s)}; });
}

Tensor sum(const Tensor& a) {
  Tensor y = sum_all(a);
  Shape shape = a.shape();
  return record(y, "sum", {a}, [shape](const Tensor& gy) {
    // dL/da_i = dL/dy for every i: broadcast the scalar back to a's shape.
    Tensor g = Tensor::empty(shape, DType::Float32, gy.device());
    g.fill_(gy.item());
    return std::vector<Tensor>{g};
  });
}

Tensor mean(const Tensor& a) { return sum(a) * (1.0f / static_cast<float>(a.numel())); }

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor y = x.view(shape);
  Shape in_shape = x.shape();
  return record(y, "reshape", {x}, [in_shape](const Tensor& gy) { return std::vector<Tensor>{gy.view(in_shape)}; });
}

Tensor flatten(const Tensor& x) {
  if (x.dim() < 1) throw std::invalid_argument("flatten: expected at least 1 dimension, got a scalar");
  return reshape(x, {x.size(0), -1});
}

}  // namespace graft
