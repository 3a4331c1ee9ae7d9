// src/tensor/cuda_stub.cpp — CUDA runtime functions in a CPU-only build.
// Anything that would touch GPU memory fails loudly; nothing silently falls back to the CPU
// (see STYLE.md). Queries (available, memory_stats, ...) answer "nothing there" so that tools
// can print them in any build.
#include "tensor/cuda_allocator.h"
#include "tensor/device.h"
#include "tensor/pinned_buffer.h"

namespace graft::cuda {
void* malloc(size_t) { not_built("cuda::malloc"); }
void free(void*, size_t) { not_built("cuda::free"); }
void copy(void*, Device, const void*, Device, size_t) { not_built("cuda::copy"); }
void fill(float*, int64_t, float) { not_built("cuda::fill"); }
bool available() { return false; }
std::string device_summary() { return "graft was built without CUDA (meson setup -Dcuda=enabled)"; }
void synchronize() {}

MemoryStats memory_stats() { return {}; }
void reset_peak_memory_stats() {}
void empty_cache() {}
std::string memory_summary() { return "no CUDA memory (graft was built without CUDA)"; }
size_t allocation_size_class(size_t bytes) { return bytes; }
}  // namespace graft::cuda

namespace graft {
PinnedBuffer::PinnedBuffer(size_t) { cuda::not_built("PinnedBuffer"); }
PinnedBuffer::~PinnedBuffer() = default;
void* PinnedBuffer::host() { cuda::not_built("PinnedBuffer::host"); }
void PinnedBuffer::copy_to_device_async(void*, size_t) { cuda::not_built("PinnedBuffer::copy_to_device_async"); }
Tensor PinnedBuffer::to_cuda_async(const Tensor&) { cuda::not_built("PinnedBuffer::to_cuda_async"); }
}  // namespace graft
