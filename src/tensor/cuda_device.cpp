// src/tensor/cuda_device.cpp — the CUDA entries of the memory and device tables (device.h).
//
// Memory comes from the caching allocator (caching_allocator.h) over cudaMalloc/cudaFree.
// Copies are queued on graft's stream (cuda_context.h):
//   host -> device   cudaMemcpyAsync; from ordinary (pageable) host memory the driver stages
//                    the data before returning, so the host buffer may be reused at once.
//   device -> device cudaMemcpyAsync, no wait.
//   device -> host   cudaMemcpyAsync + stream synchronize: the caller reads the data next.
// For overlapping a loader's next batch with the current step, see pinned_buffer.h.
#include <cstdio>
#include <string>

#include "tensor/caching_allocator.h"
#include "tensor/cuda_context.h"
#include "tensor/device.h"

namespace graft::cuda {

namespace {

void* raw_malloc(size_t bytes) {
  void* p = nullptr;
  cuda::bind_thread();  // allocate on this process's GPU, whichever thread asks
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();  // clear the error so later calls do not report it again
    return nullptr;
  }
  CUDA_CHECK(err);
  return p;
}
void raw_free(void* p) { CUDA_CHECK(cudaFree(p)); }
void raw_mem_info(size_t* free_bytes, size_t* total_bytes) { (void)cudaMemGetInfo(free_bytes, total_bytes); }

// Never destroyed (see cuda_context.cpp): tensors freed during static destruction still work.
CachingAllocator& allocator() {
  static CachingAllocator* a = new CachingAllocator(RawAllocator{raw_malloc, raw_free, raw_mem_info, "CUDA", "GPU 0"});
  return *a;
}

void copy_bytes_cuda(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  const cudaMemcpyKind kind =
      dst_device == Device::CUDA ? (src_device == Device::CUDA ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                 : cudaMemcpyDeviceToHost;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, stream()));
  if (kind == cudaMemcpyDeviceToHost) synchronize_stream();
}

// Asked once: cudaGetDeviceCount initializes the driver, which takes a while.
struct Availability {
  bool ok = false;
  std::string summary;
};
const Availability& availability() {
  static const Availability a = [] {
    Availability r;
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      r.summary = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(err);
      return r;
    }
    if (count == 0) {
      r.summary = "no CUDA-capable device is detected";
      return r;
    }
    cudaDeviceProp prop{};
    err = cudaGetDeviceProperties(&prop, 0);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      r.summary = std::string("cudaGetDeviceProperties failed: ") + cudaGetErrorString(err);
      return r;
    }
    char buf[768];  // prop.name is at most 256 chars
    std::snprintf(buf, sizeof buf, "%s, sm_%d%d, %.1f GiB, %d SMs", prop.name, prop.major, prop.minor,
                  static_cast<double>(prop.totalGlobalMem) / double(1 << 30), prop.multiProcessorCount);
    r.ok = true;
    r.summary = buf;
    return r;
  }();
  return a;
}

bool device_available_cuda() { return availability().ok; }
std::string device_summary_cuda() { return availability().summary; }
void synchronize_cuda() { synchronize_stream(); }
MemoryStats memory_stats_cuda() { return allocator().stats(); }
void reset_peak_memory_stats_cuda() { allocator().reset_peaks(); }
void empty_cache_cuda() { allocator().empty_cache(); }
void deallocate_cuda(void* p, size_t) { allocator().release(p); }

void* allocate_cuda(size_t bytes) { return allocator().allocate(bytes); }

}  // namespace

void* malloc(size_t bytes) { return allocator().allocate(bytes); }
void free(void* ptr) { allocator().release(ptr); }

GRAFT_REGISTER_KERNELS(CUDA, "caching", _cuda, allocate, deallocate, memory_stats, reset_peak_memory_stats,
                       empty_cache);
GRAFT_REGISTER_KERNELS(CUDA, "cuda", _cuda, copy_bytes, device_available, device_summary, synchronize);

}  // namespace graft::cuda
