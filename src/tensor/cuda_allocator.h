// src/tensor/cuda_allocator.h — the caching allocator for GPU memory, and its counters.
//
// cudaMalloc and cudaFree are slow (cudaFree synchronizes the whole device), and a training
// step allocates and frees the same tensor sizes again and again. So freed blocks are kept in
// per-size free lists and handed to the next request of the same size class:
//   size class = bytes rounded up to 512 B below 1 MiB; above that, rounded up to 1/8 of the
//   power of two below it (so at most 12.5% is wasted), e.g. 1.1 MiB -> 1.125 MiB.
// After the first step of a loop with fixed shapes, no cudaMalloc or cudaFree happens at all
// (memory_stats().cuda_malloc_calls stops growing). Blocks are never split or merged: simple,
// and with fixed shapes there is nothing to gain.
// When cudaMalloc fails, the cache is released (cudaFree of every free block) and the request is
// retried once; if it still fails, the error says how large the allocation was and how much was
// free, allocated and reserved.
//
// This header does not include CUDA headers: tools call memory_stats() in any build (a
// CPU-only build returns zeros).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace graft::cuda {

struct MemoryStats {
  size_t allocated_bytes = 0;       // in blocks handed out to tensors (size-class bytes)
  size_t reserved_bytes = 0;        // obtained from cudaMalloc: allocated + cached free blocks
  size_t peak_allocated_bytes = 0;  // high-water mark of allocated_bytes
  size_t peak_reserved_bytes = 0;   // high-water mark of reserved_bytes
  int64_t allocations = 0;          // malloc requests served (cached or not)
  int64_t cuda_malloc_calls = 0;    // requests that had to call cudaMalloc
  int64_t cuda_free_calls = 0;      // blocks given back by empty_cache() or an out-of-memory retry
};

MemoryStats memory_stats();
// Starts the peak counters again from the current values.
void reset_peak_memory_stats();
// Gives every cached free block back to the driver (cudaFree). Allocated blocks are untouched.
void empty_cache();
// "allocated 1.2 GiB (peak 3.4 GiB), reserved 4.0 GiB (peak 4.0 GiB), 812 cudaMalloc calls"
std::string memory_summary();

// The size class of a request of `bytes` (exposed for the tests).
size_t allocation_size_class(size_t bytes);

}  // namespace graft::cuda
