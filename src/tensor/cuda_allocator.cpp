// src/tensor/cuda_allocator.cpp — caching GPU allocator (see cuda_allocator.h).
//
// State: free lists keyed by size class (a map, so empty_cache can walk them), and the live
// blocks with their class (to catch a free of a pointer the allocator never gave out). All
// under one mutex: data-loader threads may create CUDA tensors while the training loop runs.
// Reuse without events is safe because graft queues all GPU work on one stream (cuda_context.h):
// the next user of a block can only run after the previous user's kernels.
#include "tensor/cuda_allocator.h"

#include <cstdio>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "tensor/cuda_check.h"
#include "tensor/device.h"

namespace graft::cuda {

size_t allocation_size_class(size_t bytes) {
  if (bytes == 0) return 0;
  constexpr size_t kSmall = 1 << 20;
  if (bytes < kSmall) return (bytes + 511) / 512 * 512;
  size_t pow2 = kSmall;
  while (pow2 * 2 <= bytes) pow2 *= 2;
  size_t step = pow2 / 8;
  return (bytes + step - 1) / step * step;
}

namespace {

std::string mib(size_t bytes) {
  char buf[64];
  if (bytes >= (size_t(1) << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(1 << 30));
  else
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / double(1 << 20));
  return buf;
}

class CachingAllocator {
 public:
  void* allocate(size_t bytes) {
    if (bytes == 0) return nullptr;
    const size_t size = allocation_size_class(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.allocations;
    void* p = nullptr;
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
    } else {
      p = cuda_malloc(bytes, size);
      stats_.reserved_bytes += size;
      stats_.peak_reserved_bytes = std::max(stats_.peak_reserved_bytes, stats_.reserved_bytes);
    }
    live_[p] = size;
    stats_.allocated_bytes += size;
    stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
    return p;
  }

  void release(void* p) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(p);
    if (it == live_.end())
      throw std::logic_error("cuda::free: pointer was not allocated by graft's CUDA allocator (double free?)");
    const size_t size = it->second;
    live_.erase(it);
    stats_.allocated_bytes -= size;
    free_[size].push_back(p);  // kept for the next request of this class
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cached_locked();
  }

  MemoryStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  void reset_peaks() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_allocated_bytes = stats_.allocated_bytes;
    stats_.peak_reserved_bytes = stats_.reserved_bytes;
  }

 private:
  // cudaFree synchronizes the device, so it only happens here: on request or when memory ran out.
  void release_cached_locked() {
    for (auto& [size, blocks] : free_) {
      for (void* p : blocks) {
        CUDA_CHECK(cudaFree(p));
        ++stats_.cuda_free_calls;
        stats_.reserved_bytes -= size;
      }
      blocks.clear();
    }
    free_.clear();
  }

  void* cuda_malloc(size_t requested, size_t size) {
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, size);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // clear the error so later calls do not report it again
      release_cached_locked();   // give the cached blocks back to the driver and try again
      err = cudaMalloc(&p, size);
    }
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      (void)cudaMemGetInfo(&free_b, &total_b);
      throw std::runtime_error(
          "CUDA out of memory: tried to allocate " + mib(size) + " (a tensor of " + std::to_string(requested) +
          " bytes, allocation #" + std::to_string(stats_.allocations) + ") on GPU 0, which has " + mib(free_b) +
          " free of " + mib(total_b) + "; graft holds " + mib(stats_.allocated_bytes) + " in tensors and " +
          mib(stats_.reserved_bytes) + " reserved in total (cached blocks were already released). "
          "Use a smaller batch size (--batch-size) or image size, or freeze more of the network.");
    }
    CUDA_CHECK(err);
    ++stats_.cuda_malloc_calls;
    return p;
  }

  std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_;
  std::unordered_map<void*, size_t> live_;
  MemoryStats stats_;
};

// Never destroyed (see cuda_context.cpp): tensors freed during static destruction still work.
CachingAllocator& allocator() {
  static CachingAllocator* a = new CachingAllocator;
  return *a;
}

}  // namespace

// ---- device.h entry points for memory ----------------------------------------------------------
void* malloc(size_t bytes) { return allocator().allocate(bytes); }
void free(void* ptr, size_t) { allocator().release(ptr); }

// ---- cuda_allocator.h ----------------------------------------------------------------------------
MemoryStats memory_stats() { return allocator().stats(); }
void reset_peak_memory_stats() { allocator().reset_peaks(); }
void empty_cache() { allocator().empty_cache(); }

std::string memory_summary() {
  MemoryStats s = memory_stats();
  return "allocated " + mib(s.allocated_bytes) + " (peak " + mib(s.peak_allocated_bytes) + "), reserved " +
         mib(s.reserved_bytes) + " (peak " + mib(s.peak_reserved_bytes) + "), " +
         std::to_string(s.cuda_malloc_calls) + " cudaMalloc calls";
}

}  // namespace graft::cuda
