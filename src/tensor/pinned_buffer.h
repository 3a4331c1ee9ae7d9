// src/tensor/pinned_buffer.h — page-locked host memory for copying batches to the GPU while
// the current training step is still running.
//
// A copy from ordinary (pageable) host memory is staged by the driver and cannot overlap with
// kernels; a copy from pinned memory is a true asynchronous DMA. The loader keeps two of these
// (double buffering): while step k runs on the GPU, batch k+1 is written into the other buffer
// and its copy is queued behind step k on graft's stream.
//
//   PinnedBuffer buf(batch_bytes);
//   decode_into(static_cast<float*>(buf.host()));        // waits if the GPU still reads it
//   Tensor x = Tensor::empty(shape, DType::Float32, Device::CUDA);
//   buf.copy_to_device_async(x.data(), x.numel() * 4);    // returns at once
// or simply `Tensor x = buf.to_cuda_async(x_cpu)` (one host memcpy into the pinned buffer).
//
// host() waits (on a CUDA event) for the last copy out of the buffer, so the host never
// overwrites bytes the GPU has not read yet. In a CPU-only build every member throws.
#pragma once

#include <cstddef>

#include "tensor/tensor.h"

namespace graft {

class PinnedBuffer {
 public:
  explicit PinnedBuffer(size_t bytes);
  ~PinnedBuffer();
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  size_t bytes() const { return bytes_; }
  // The host pointer, once the previous asynchronous copy out of the buffer has finished.
  void* host();
  // Queues a copy of the first `bytes` of the buffer to device memory `dst` on graft's stream.
  void copy_to_device_async(void* dst, size_t bytes);
  // cpu: a CPU tensor of at most bytes() bytes -> a CUDA tensor of the same shape and dtype,
  // whose data arrives in stream order (any later GPU op sees it).
  Tensor to_cuda_async(const Tensor& cpu);

 private:
  void* host_ = nullptr;
  size_t bytes_ = 0;
  void* event_ = nullptr;  // cudaEvent_t, kept opaque so this header needs no CUDA headers
};

}  // namespace graft
