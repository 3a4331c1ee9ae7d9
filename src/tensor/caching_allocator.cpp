// src/tensor/caching_allocator.cpp — see caching_allocator.h.
//
// All state is under one mutex: data-loader threads may create device tensors while the
// training loop runs.
#include "tensor/caching_allocator.h"

#include <algorithm>
#include <cstdio>

#include "tensor/check.h"

namespace graft {

size_t allocation_size_class(size_t bytes) {
  if (bytes == 0) return 0;
  constexpr size_t kSmall = 1 << 20;
  if (bytes < kSmall) return (bytes + 511) / 512 * 512;
  size_t pow2 = kSmall;
  while (pow2 * 2 <= bytes) pow2 *= 2;
  const size_t step = pow2 / 8;
  return (bytes + step - 1) / step * step;
}


void* CachingAllocator::allocate(size_t bytes) {
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
    p = driver_malloc(bytes, size);
    stats_.reserved_bytes += size;
    stats_.peak_reserved_bytes = std::max(stats_.peak_reserved_bytes, stats_.reserved_bytes);
  }
  live_[p] = size;
  stats_.allocated_bytes += size;
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  return p;
}

void CachingAllocator::release(void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(p);
  GRAFT_ASSERT(it != live_.end(), "CachingAllocator::release",
               "pointer was not allocated by graft's caching allocator (double free?)");
  const size_t size = it->second;
  live_.erase(it);
  stats_.allocated_bytes -= size;
  free_[size].push_back(p);  // kept for the next request of this class
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_cached_locked();
}

MemoryStats CachingAllocator::stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peaks() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
  stats_.peak_reserved_bytes = stats_.reserved_bytes;
}

// Giving memory back (cudaFree synchronizes the device) only happens here: on request or when
// the device ran out.
void CachingAllocator::release_cached_locked() {
  for (auto& [size, blocks] : free_) {
    for (void* p : blocks) {
      raw_.free(p);
      ++stats_.driver_free_calls;
      stats_.reserved_bytes -= size;
    }
    blocks.clear();
  }
  free_.clear();
}

void* CachingAllocator::driver_malloc(size_t requested, size_t size) {
  void* p = raw_.malloc(size);
  if (!p) {
    release_cached_locked();  // give the cached blocks back to the driver and try again
    p = raw_.malloc(size);
  }
  if (!p) {
    size_t free_b = 0, total_b = 0;
    if (raw_.mem_info) raw_.mem_info(&free_b, &total_b);
    GRAFT_FAIL_DATA("", raw_.kind, " out of memory: tried to allocate ", format_bytes(size), " (a tensor of ",
                    requested, " bytes, allocation #", stats_.allocations, ") on ", raw_.device, ", which has ",
                    format_bytes(free_b), " free of ", format_bytes(total_b), "; graft holds ",
                    format_bytes(stats_.allocated_bytes), " in tensors and ", format_bytes(stats_.reserved_bytes),
                    " reserved in total (cached blocks were already released). Use a smaller batch size "
                    "(--batch-size) or image size, or freeze more of the network.");
  }
  ++stats_.driver_malloc_calls;
  return p;
}

}  // namespace graft
