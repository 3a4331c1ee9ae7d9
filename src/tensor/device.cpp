// src/tensor/device.cpp — the memory and device tables, and the functions that call them
// (see device.h). The CPU entries are in device_cpu.cpp, the CUDA ones in cuda_device.cpp.
#include "tensor/device.h"

#include <atomic>
#include <cstdio>

namespace graft {

GRAFT_DEFINE_KERNELS(allocate, deallocate, copy_bytes, device_available, device_summary, synchronize, memory_stats,
                     reset_peak_memory_stats, empty_cache);

void* device_malloc(Device device, size_t bytes) { return kernels::allocate(device, bytes); }

void device_free(Device device, void* ptr, size_t bytes) {
  if (ptr) kernels::deallocate(device, ptr, bytes);
}

void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  // The one device decision of copies: a copy that touches the GPU is the GPU's to make.
  const Device owner = dst_device == Device::CPU ? src_device : dst_device;
  kernels::copy_bytes(owner, dst, dst_device, src, src_device, bytes);
}

bool device_available(Device device) {
  return kernels::device_available.has(device) && kernels::device_available(device);
}

std::string device_summary(Device device) {
  if (kernels::device_summary.has(device)) return kernels::device_summary(device);
  return std::string("graft was built without ") + (device == Device::CUDA ? "CUDA" : device_name(device)) +
         " (meson setup build -Dcuda=enabled on a machine with nvcc and cuDNN)";
}

void synchronize(Device device) {
  if (device_available(device)) kernels::synchronize(device);
}

MemoryStats memory_stats(Device device) {
  return kernels::memory_stats.has(device) ? kernels::memory_stats(device) : MemoryStats{};
}

void reset_peak_memory_stats(Device device) {
  if (kernels::reset_peak_memory_stats.has(device)) kernels::reset_peak_memory_stats(device);
}

void empty_cache(Device device) {
  if (kernels::empty_cache.has(device)) kernels::empty_cache(device);
}

std::string format_bytes(size_t bytes) {
  char buf[64];
  if (bytes >= (size_t(1) << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / double(1 << 30));
  else
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / double(1 << 20));
  return buf;
}

namespace {
std::atomic<bool> g_allow_tf32{false};
}  // namespace

std::string memory_summary(Device device) {
  if (!kernels::memory_stats.has(device))
    return std::string("no ") + device_name(device) + " memory statistics (" + device_summary(device) + ")";
  const MemoryStats s = memory_stats(device);
  return "allocated " + format_bytes(s.allocated_bytes) + " (peak " + format_bytes(s.peak_allocated_bytes) +
         "), reserved " + format_bytes(s.reserved_bytes) + " (peak " + format_bytes(s.peak_reserved_bytes) + "), " +
         std::to_string(s.driver_malloc_calls) + " driver allocations";
}

void set_allow_tf32(bool on) { g_allow_tf32 = on; }
bool allow_tf32() { return g_allow_tf32; }

}  // namespace graft
