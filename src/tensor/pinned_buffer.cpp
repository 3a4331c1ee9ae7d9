// src/tensor/pinned_buffer.cpp — see pinned_buffer.h (CUDA build).
#include "tensor/pinned_buffer.h"

#include <cstring>

#include "tensor/check.h"
#include "tensor/cuda_context.h"

namespace graft {

PinnedBuffer::PinnedBuffer(size_t bytes) : bytes_(bytes) {
  CUDA_CHECK(cudaHostAlloc(&host_, bytes ? bytes : 1, cudaHostAllocDefault));
  cudaEvent_t e = nullptr;
  CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  event_ = e;
}

PinnedBuffer::~PinnedBuffer() {
  // Errors are ignored: a destructor must not throw, and at exit the driver may be gone.
  if (event_) {
    (void)cudaEventSynchronize(static_cast<cudaEvent_t>(event_));
    (void)cudaEventDestroy(static_cast<cudaEvent_t>(event_));
  }
  if (host_) (void)cudaFreeHost(host_);
}

void* PinnedBuffer::host() {
  CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event_)));
  return host_;
}

void PinnedBuffer::copy_to_device_async(void* dst, size_t bytes) {
  GRAFT_CHECK(bytes <= bytes_, "PinnedBuffer::copy_to_device_async", bytes, " bytes requested from a buffer of ",
              bytes_, "; make the buffer as large as the largest batch");
  CUDA_CHECK(cudaMemcpyAsync(dst, host_, bytes, cudaMemcpyHostToDevice, cuda::stream()));
  CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event_), cuda::stream()));
}

Tensor PinnedBuffer::to_cuda_async(const Tensor& cpu) {
  GRAFT_CHECK(cpu.device() == Device::CPU, "PinnedBuffer::to_cuda_async", "expected a CPU tensor, got ", cpu);
  const size_t n = cpu.numel() * dtype_size(cpu.dtype());
  GRAFT_CHECK(n <= bytes_, "PinnedBuffer::to_cuda_async", "tensor ", cpu, " needs ", n, " bytes, the buffer has ",
              bytes_, "; make the buffer as large as the largest batch");
  Tensor out = Tensor::empty(cpu.shape(), cpu.dtype(), Device::CUDA);
  const void* src = cpu.dtype() == DType::Float32 ? static_cast<const void*>(cpu.data())
                                                   : static_cast<const void*>(cpu.data_ptr<int64_t>());
  void* dst = cpu.dtype() == DType::Float32 ? static_cast<void*>(out.data())
                                             : static_cast<void*>(out.data_ptr<int64_t>());
  std::memcpy(host(), src, n);
  copy_to_device_async(dst, n);
  return out;
}

}  // namespace graft
