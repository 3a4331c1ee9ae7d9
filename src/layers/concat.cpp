// src/layers/concat.cpp — concat_channels forward and backward (see concat.h); the copies are
// concat_cpu.cpp and concat.cu.
#include "layers/concat.h"

#include "autograd/engine.h"
#include "tensor/check.h"

namespace graft {

GRAFT_DEFINE_KERNEL(kernels::channel_copy);

Tensor concat_channels(const std::vector<Tensor>& xs) {
  GRAFT_CHECK(!xs.empty(), "concat_channels", "expected at least one tensor, got none");
  const Tensor& first = xs[0];
  GRAFT_CHECK(first.dim() >= 2, "concat_channels", "expected tensors [N,C,...], got ", first.shape());
  int64_t total_C = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    Shape expected = first.shape(), got = xs[i].shape();
    if (got.size() == expected.size()) expected[1] = got[1];  // only the channel count may differ
    GRAFT_CHECK(got == expected, "concat_channels", "tensor ", i, " has shape ", got, " but tensor 0 has shape ",
                first.shape(), ": all dimensions except channels (dim 1) must match");
    check_same_device("concat_channels", first, xs[i]);
    total_C += got[1];
  }
  Shape ys = first.shape();
  ys[1] = total_C;
  Tensor y = Tensor::empty(ys, DType::Float32, first.device());
  int64_t c0 = 0;
  for (const Tensor& x : xs) {
    kernels::channel_copy(y.device(), x, 0, y, c0, x.size(1));
    c0 += x.size(1);
  }

  return record("concat_channels", xs, y, {}, [](const Ctx<>& ctx, const Tensor& gy) -> Grads {
    Grads grads(ctx.inputs());
    int64_t c0 = 0;
    for (size_t i = 0; i < grads.size(); ++i) {
      const int64_t C = ctx.input_shape(i)[1];
      if (ctx.needs_grad(i)) {  // dx_i = dy[:, c0 : c0 + C]
        grads[i] = Tensor::empty(ctx.input_shape(i), DType::Float32, gy.device());
        kernels::channel_copy(gy.device(), gy, c0, grads[i], 0, C);
      }
      c0 += C;
    }
    return grads;
  });
}

}  // namespace graft
