// src/tensor/cuda_device.cpp — CUDA memory entry points of device.h (CUDA build).
//
// malloc/free go to the caching allocator (cuda_allocator.cpp); fill is a kernel in
// elementwise.cu. Copies are queued on graft's stream:
//   host -> device   cudaMemcpyAsync; from ordinary (pageable) host memory the driver stages
//                    the data before returning, so the host buffer may be reused at once.
//   device -> device cudaMemcpyAsync, no wait.
//   device -> host   cudaMemcpyAsync + stream synchronize: the caller reads the data next.
// For overlapping a loader's next batch with the current step, see pinned_buffer.h.
#include <stdexcept>
#include <string>

#include "tensor/cuda_context.h"
#include "tensor/device.h"

namespace graft::cuda {

void copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  cudaMemcpyKind kind = dst_device == Device::CUDA
                            ? (src_device == Device::CUDA ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                            : (src_device == Device::CUDA ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, stream()));
  if (kind == cudaMemcpyDeviceToHost) synchronize_stream();
}

namespace {
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
                  prop.totalGlobalMem / double(1 << 30), prop.multiProcessorCount);
    r.ok = true;
    r.summary = buf;
    return r;
  }();
  return a;
}
}  // namespace

bool available() { return availability().ok; }
std::string device_summary() { return availability().summary; }
void synchronize() {
  if (available()) synchronize_stream();
}

}  // namespace graft::cuda
