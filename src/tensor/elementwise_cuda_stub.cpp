// src/tensor/elementwise_cuda_stub.cpp — elementwise CUDA entry points in a CPU-only build.
#include "tensor/device.h"
#include "tensor/elementwise.h"

namespace graft::cuda {
void add(const float*, const float*, float*, int64_t) { not_built("add"); }
void sub(const float*, const float*, float*, int64_t) { not_built("sub"); }
void mul(const float*, const float*, float*, int64_t) { not_built("mul"); }
void axpby(float*, float, const float*, float, int64_t) { not_built("axpby_"); }
void scale(const float*, float, float*, int64_t) { not_built("scale"); }
void sum(const float*, float*, int64_t) { not_built("sum_all"); }
float max_abs(const float*, int64_t) { not_built("max_abs"); }
}  // namespace graft::cuda
