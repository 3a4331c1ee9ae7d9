// src/tensor/device_cpu.cpp — the CPU's entries of the memory and device tables (device.h).
//
// Host memory is 64-byte aligned (a cache line, and what AVX-512 loads like best). The CPU is
// always available; it has no allocator statistics and nothing to wait for.
#include <cstdlib>
#include <cstring>

#include "tensor/check.h"
#include "tensor/device.h"

namespace graft {
namespace {

void* allocate_cpu(size_t bytes) {
  if (bytes == 0) return nullptr;
  const size_t rounded = (bytes + 63) / 64 * 64;  // aligned_alloc wants a multiple of the alignment
  void* p = std::aligned_alloc(64, rounded);
  GRAFT_CHECK_DATA(p, "", "out of host memory: could not allocate ", bytes,
                   " bytes for a tensor; use a smaller batch size or image size");
  return p;
}

void deallocate_cpu(void* ptr, size_t) { std::free(ptr); }

void copy_bytes_cpu(void* dst, Device, const void* src, Device, size_t bytes) { std::memcpy(dst, src, bytes); }

bool device_available_cpu() { return true; }
std::string device_summary_cpu() { return "host CPU"; }
void synchronize_cpu() {}

}  // namespace

GRAFT_REGISTER_KERNELS(CPU, "reference", _cpu, allocate, deallocate, copy_bytes, device_available, device_summary,
                       synchronize);

}  // namespace graft
