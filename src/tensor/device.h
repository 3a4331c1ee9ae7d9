// src/tensor/device.h — memory on a device: allocate, free, copy, fill.
//
// This is the one place where tensor memory is dispatched by device. CPU memory is 64-byte
// aligned (good for Eigen's SIMD). CUDA memory comes from the caching allocator in
// src/tensor/cuda_allocator.{h,cpp}; in a CPU-only build the CUDA functions throw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tensor/tensor.h"

namespace graft {

void* device_malloc(Device device, size_t bytes);
void device_free(Device device, void* ptr, size_t bytes);
// Copies bytes between any two devices (host<->device, device<->device, host<->host).
void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
// Sets n floats at p to value.
void device_fill(Device device, float* p, int64_t n, float value);
// True when graft was built with CUDA and a GPU is present.
bool cuda_available();

// CUDA entry points, implemented in cuda_device.cpp (CUDA builds) or cuda_stub.cpp.
namespace cuda {
void* malloc(size_t bytes);
void free(void* ptr, size_t bytes);
void copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
void fill(float* p, int64_t n, float value);
bool available();
// One line naming the GPU ("NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB, 132 SMs"), or saying why
// CUDA cannot be used ("graft was built without CUDA", "no CUDA-capable device is detected").
std::string device_summary();
// Waits until all queued GPU work is done (for timing; graft syncs by itself where it reads back).
void synchronize();
// Throws "op: graft was built without CUDA ..." — used by every CUDA stub.
[[noreturn]] void not_built(const char* op);
}  // namespace cuda

}  // namespace graft
