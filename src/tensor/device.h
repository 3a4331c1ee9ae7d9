// src/tensor/device.h — what a device does besides running ops: memory, copies, and questions
// about the device itself.
//
// These are kernel tables like every op's (dispatch.h): the CPU entries are in device_cpu.cpp,
// the CUDA entries in cuda_device.cpp (CUDA builds only). The functions below are the only
// callers, so this file is where memory is dispatched by device:
//   device_malloc / device_free   CPU: 64-byte aligned host memory (good for SIMD loads);
//                                 CUDA: the caching allocator (caching_allocator.h)
//   device_copy                   between any two devices: host -> host is the CPU entry,
//                                 anything that touches the GPU is the CUDA entry
//   device_available, device_summary, synchronize, memory_stats, empty_cache
// In a build without CUDA the questions have answers ("graft was built without CUDA",
// available() false, no memory in use) and anything that needs GPU memory fails loudly,
// naming what was asked for: there is nothing to stub.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace graft {

// Counters of a device's allocator (all zero for the CPU, and for CUDA without a CUDA build).
struct MemoryStats {
  size_t allocated_bytes = 0;       // in blocks handed out to tensors (size-class bytes)
  size_t reserved_bytes = 0;        // obtained from the driver: allocated + cached free blocks
  size_t peak_allocated_bytes = 0;  // high-water mark of allocated_bytes
  size_t peak_reserved_bytes = 0;   // high-water mark of reserved_bytes
  int64_t allocations = 0;          // requests served (cached or not)
  int64_t driver_malloc_calls = 0;  // requests that had to ask the driver (cudaMalloc)
  int64_t driver_free_calls = 0;    // blocks given back by empty_cache() or an out-of-memory retry
};

namespace kernels {
GRAFT_DECLARE_KERNEL(allocate, void*(size_t bytes));
GRAFT_DECLARE_KERNEL(deallocate, void(void* ptr, size_t bytes));
// bytes from src (on src_device) to dst (on dst_device); the entry of the device that is not
// the host is called, so a CUDA entry handles host<->device and device<->device.
GRAFT_DECLARE_KERNEL(copy_bytes, void(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes));
GRAFT_DECLARE_KERNEL(device_available, bool());
GRAFT_DECLARE_KERNEL(device_summary, std::string());
GRAFT_DECLARE_KERNEL(synchronize, void());
GRAFT_DECLARE_KERNEL(memory_stats, MemoryStats());
GRAFT_DECLARE_KERNEL(reset_peak_memory_stats, void());
GRAFT_DECLARE_KERNEL(empty_cache, void());
}  // namespace kernels

void* device_malloc(Device device, size_t bytes);
void device_free(Device device, void* ptr, size_t bytes);
// Copies bytes between any two devices (host<->device, device<->device, host<->host).
void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

// True when this build has the device and it can be used now (a GPU is present).
bool device_available(Device device);
inline bool cuda_available() { return device_available(Device::CUDA); }
// One line naming the device ("NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB, 132 SMs"), or saying why
// it cannot be used ("graft was built without CUDA ...", "no CUDA-capable device is detected").
std::string device_summary(Device device);
// Waits until all work queued on the device is done (for timing; graft waits by itself where
// it reads a value back). Nothing to wait for on the CPU or a device not built.
void synchronize(Device device);

MemoryStats memory_stats(Device device);
void reset_peak_memory_stats(Device device);
// Gives cached free blocks back to the driver. Allocated blocks are untouched.
void empty_cache(Device device);
// "allocated 1.2 GiB (peak 3.4 GiB), reserved 4.0 GiB (peak 4.0 GiB), 812 cudaMalloc calls"
std::string memory_summary(Device device);
// "12.5 MiB" or "1.25 GiB", for memory in messages.
std::string format_bytes(size_t bytes);

// TF32 tensor-core math for float32 GEMMs (cuBLAS) and convolutions (cuDNN). Off by default:
// TF32 keeps only 10 mantissa bits, so results differ from PyTorch's float32 reference by
// ~1e-3 relative. Turning it on is several times faster on A100/H100 (like PyTorch's
// torch.backends.cuda.matmul.allow_tf32 + torch.backends.cudnn.allow_tf32). Takes effect for
// calls made after it; cuDNN algorithm choices are cached per setting. Only a flag: harmless
// in a build without CUDA.
void set_allow_tf32(bool on);
bool allow_tf32();

}  // namespace graft
