// src/layers/concat.cpp — concat_channels forward and backward (see concat.h).
#include "layers/concat.h"

#include <cstring>
#include <stdexcept>

#include "autograd/engine.h"

namespace graft {

namespace {

// dst[n, dst_c0 + c, :] = src[n, src_c0 + c, :] for n < N, c < C (HW floats per channel).
// The one device dispatch of concat: a contiguous block of C*HW floats per image.
void channel_copy(Device dev, const float* src, int64_t src_C, int64_t src_c0, float* dst, int64_t dst_C,
                  int64_t dst_c0, int64_t N, int64_t C, int64_t HW) {
  if (dev == Device::CUDA) return cuda::channel_copy(src, src_C, src_c0, dst, dst_C, dst_c0, N, C, HW);
#pragma omp parallel for if (N * C * HW > 65536)
  for (int64_t n = 0; n < N; ++n)
    std::memcpy(dst + (n * dst_C + dst_c0) * HW, src + (n * src_C + src_c0) * HW,
                static_cast<size_t>(C * HW) * sizeof(float));
}

}  // namespace

Tensor concat_channels(const std::vector<Tensor>& xs) {
  if (xs.empty()) throw std::invalid_argument("concat_channels: expected at least one tensor, got none");
  const Tensor& first = xs[0];
  if (first.dim() < 2)
    throw std::invalid_argument("concat_channels: expected tensors [N,C,...], got " + shape_str(first.shape()));
  int64_t total_C = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    Shape expected = first.shape(), got = xs[i].shape();
    if (got.size() == expected.size()) expected[1] = got[1];  // only the channel count may differ
    if (got != expected)
      throw std::invalid_argument("concat_channels: tensor " + std::to_string(i) + " has shape " + shape_str(got) +
                                  " but tensor 0 has shape " + shape_str(first.shape()) +
                                  ": all dimensions except channels (dim 1) must match");
    check_same_device("concat_channels", first, xs[i]);
    total_C += got[1];
  }
  Shape ys = first.shape();
  ys[1] = total_C;
  const int64_t N = ys[0], inner = shape_numel(Shape(ys.begin() + 2, ys.end()));  // H*W
  const Device dev = first.device();

  Tensor y = Tensor::empty(ys, DType::Float32, dev);
  int64_t c0 = 0;
  for (const Tensor& x : xs) {
    channel_copy(dev, x.data(), x.size(1), 0, y.data(), total_C, c0, N, x.size(1), inner);
    c0 += x.size(1);
  }

  return record(y, "concat_channels", xs, [xs, total_C, N, inner, dev](const Tensor& gy) {
    std::vector<Tensor> grads(xs.size());
    int64_t c0 = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      const int64_t C = xs[i].size(1);
      if (xs[i].requires_grad()) {  // dx_i = dy[:, c0 : c0 + C]
        grads[i] = Tensor::empty(xs[i].shape(), DType::Float32, dev);
        channel_copy(dev, gy.data(), total_C, c0, grads[i].data(), C, 0, N, C, inner);
      }
      c0 += C;
    }
    return grads;
  });
}

}  // namespace graft
