// src/tensor/device.cpp — device dispatch for raw memory (see device.h).
#include "tensor/device.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

namespace graft {

void* device_malloc(Device device, size_t bytes) {
  if (device == Device::CUDA) return cuda::malloc(bytes);
  if (bytes == 0) return nullptr;
  size_t rounded = (bytes + 63) / 64 * 64;  // aligned_alloc wants a multiple of the alignment
  void* p = std::aligned_alloc(64, rounded);
  if (!p)
    throw std::runtime_error("out of host memory: could not allocate " + std::to_string(bytes) +
                             " bytes for a tensor; use a smaller batch size or image size");
  return p;
}

void device_free(Device device, void* ptr, size_t bytes) {
  if (!ptr) return;
  if (device == Device::CUDA) return cuda::free(ptr, bytes);
  std::free(ptr);
}

void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device == Device::CPU && src_device == Device::CPU) {
    std::memcpy(dst, src, bytes);
    return;
  }
  cuda::copy(dst, dst_device, src, src_device, bytes);
}

void device_fill(Device device, float* p, int64_t n, float value) {
  if (device == Device::CUDA) return cuda::fill(p, n, value);
  std::fill(p, p + n, value);
}

bool cuda_available() { return cuda::available(); }

namespace cuda {
void not_built(const char* op) {
  throw std::runtime_error(std::string(op) +
                           ": graft was built without CUDA. Rebuild on a machine with nvcc and "
                           "cuDNN (meson setup build -Dcuda=enabled), or use --device cpu");
}
}  // namespace cuda

}  // namespace graft
