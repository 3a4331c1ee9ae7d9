// src/tensor/cuda_stub.cpp — CUDA memory functions in a CPU-only build: they fail loudly.
// Nothing silently falls back to the CPU (see STYLE.md).
#include "tensor/device.h"

namespace graft::cuda {
void* malloc(size_t) { not_built("cuda::malloc"); }
void free(void*, size_t) { not_built("cuda::free"); }
void copy(void*, Device, const void*, Device, size_t) { not_built("cuda::copy"); }
void fill(float*, int64_t, float) { not_built("cuda::fill"); }
bool available() { return false; }
}  // namespace graft::cuda
