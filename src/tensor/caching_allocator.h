// src/tensor/caching_allocator.h — the caching allocator for device memory (the GPU's).
//
// cudaMalloc and cudaFree are slow (cudaFree synchronizes the whole device), and a training
// step allocates and frees the same tensor sizes again and again. So freed blocks are kept in
// per-size free lists and handed to the next request of the same size class:
//   size class = bytes rounded up to 512 B below 1 MiB; above that, rounded up to 1/8 of the
//   power of two below it (so at most 12.5% is wasted), e.g. 1.1 MiB -> 1.125 MiB.
// After the first step of a loop with fixed shapes, no driver allocation happens at all
// (MemoryStats::driver_malloc_calls stops growing). Blocks are never split or merged: simple,
// and with fixed shapes there is nothing to gain.
// When the driver runs out, the cache is released (every free block given back) and the request
// is retried once; if it still fails, the error says how large the allocation was and how much
// was free, allocated and reserved.
//
// Design note: the policy is plain C++ over a RawAllocator (cudaMalloc/cudaFree in
// cuda_device.cpp), so it builds everywhere and its tests run without a GPU, on a counting fake.
// Reuse without events is safe because graft queues all GPU work on one stream
// (cuda_context.h): the next user of a block can only run after the previous user's kernels.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tensor/device.h"

namespace graft {

// The size class of a request of `bytes` (see above).
size_t allocation_size_class(size_t bytes);

// What the allocator asks the driver for.
struct RawAllocator {
  void* (*malloc)(size_t bytes) = nullptr;  // null when the device is out of memory
  void (*free)(void* ptr) = nullptr;
  void (*mem_info)(size_t* free_bytes, size_t* total_bytes) = nullptr;  // for messages; may be null
  const char* kind = "device";                                         // "CUDA", in messages
  const char* device = "the device";                                   // "GPU 0", in messages
};

class CachingAllocator {
 public:
  explicit CachingAllocator(RawAllocator raw) : raw_(raw) {}
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  void* allocate(size_t bytes);  // nullptr for 0 bytes
  void release(void* ptr);       // throws for a pointer it did not hand out
  void empty_cache();
  MemoryStats stats();
  void reset_peaks();

 private:
  void release_cached_locked();
  void* driver_malloc(size_t requested, size_t size);

  RawAllocator raw_;
  std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_;  // size class -> blocks (a map: empty_cache walks it)
  std::unordered_map<void*, size_t> live_;     // handed out -> size class
  MemoryStats stats_;
};

}  // namespace graft
