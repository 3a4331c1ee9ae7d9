// src/layers/batch_norm2d.cu — the one batch-norm kernel cuDNN does not provide: counting
// training batches (num_batches_tracked) on the device. The math itself is in
// batch_norm2d_cudnn.cpp (cudnnBatchNormalization*).
#include "layers/batch_norm2d.h"
#include "tensor/cuda_context.h"

namespace graft::cuda {
namespace {

__global__ void increment_counter_kernel(long long* counter) { *counter += 1; }

void increment_counter_cuda(Tensor& counter_tensor) {
  int64_t* counter = counter_tensor.data_ptr<int64_t>();
  // int64_t is long on Linux; the kernel uses long long, which has the same size.
  static_assert(sizeof(long long) == sizeof(int64_t));
  increment_counter_kernel<<<1, 1, 0, stream()>>>(reinterpret_cast<long long*>(counter));
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::increment_counter, CUDA, "cuda", increment_counter_cuda);

}  // namespace graft::cuda
