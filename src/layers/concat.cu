// src/layers/concat.cu — channel_copy for concat_channels (concat.h) on the GPU.
//
//   dst[n, dst_c0 + c, i] = src[n, src_c0 + c, i]   for n < N, c < C, i < HW
// For each image the C channels are one contiguous run of C*HW floats in both buffers, so this
// is one strided 2-D copy: N rows of C*HW floats, row pitch src_C*HW and dst_C*HW.
// cudaMemcpy2DAsync does exactly that with the copy engines' best path, queued on graft's
// stream; no kernel needed.
#include "layers/concat.h"
#include "tensor/cuda_context.h"

namespace graft::cuda {
namespace {

void channel_copy_cuda(const Tensor& source, int64_t src_c0, Tensor& dest, int64_t dst_c0, int64_t C) {
  const int64_t N = source.size(0), src_C = source.size(1), dst_C = dest.size(1);
  const int64_t HW = N * src_C > 0 ? source.numel() / (N * src_C) : 0;
  if (N == 0 || C == 0 || HW == 0) return;
  const float* src = source.data();
  float* dst = dest.data();
  const size_t row_bytes = static_cast<size_t>(C * HW) * sizeof(float);
  CUDA_CHECK(cudaMemcpy2DAsync(dst + dst_c0 * HW, static_cast<size_t>(dst_C * HW) * sizeof(float),
                               src + src_c0 * HW, static_cast<size_t>(src_C * HW) * sizeof(float), row_bytes,
                               static_cast<size_t>(N), cudaMemcpyDeviceToDevice, stream()));
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::channel_copy, CUDA, "cuda", channel_copy_cuda);

}  // namespace graft::cuda
