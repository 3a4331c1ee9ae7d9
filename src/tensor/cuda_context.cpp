// src/tensor/cuda_context.cpp — see cuda_context.h.
#include "tensor/cuda_context.h"

#include <mutex>

#include "tensor/check.h"
#include "tensor/device.h"

namespace graft::cuda {

void throw_cuda_error(const char* lib, const char* call, const char* what, const char* file, int line) {
  GRAFT_FAIL_DATA("", lib, " error: ", what, "\n  in ", call, "\n  at ", file, ":", line);
}

const char* cublas_error_string(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED (out of GPU memory)";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "unknown cuBLAS status";
  }
}

namespace {

struct Context {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  int sm_count = 0;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  std::mutex workspace_mutex;
};

int g_device = 0;
bool g_created = false;

// Never destroyed: tensors that die during static destruction may still return memory, and
// the driver may already be unloading then (destroying handles at exit buys nothing).
Context& context() {
  static Context* ctx = [] {
    auto* c = new Context;
    CUDA_CHECK(cudaSetDevice(g_device));
    g_created = true;
    // A blocking stream (ordered with the legacy default stream), so a library call that
    // forgets the stream still runs in order.
    CUDA_CHECK(cudaStreamCreate(&c->stream));
    CUBLAS_CHECK(cublasCreate(&c->cublas));
    CUBLAS_CHECK(cublasSetStream(c->cublas, c->stream));
    CUDNN_CHECK(cudnnCreate(&c->cudnn));
    CUDNN_CHECK(cudnnSetStream(c->cudnn, c->stream));
    CUDA_CHECK(cudaDeviceGetAttribute(&c->sm_count, cudaDevAttrMultiProcessorCount, g_device));
    return c;
  }();
  // The current GPU is per thread: a loader thread that uploads a batch must use ours too.
  thread_local bool bound = false;
  if (!bound) {
    CUDA_CHECK(cudaSetDevice(g_device));
    bound = true;
  }
  return *ctx;
}

}  // namespace

void bind_thread() { (void)context(); }

void select_device(int index) {
  GRAFT_CHECK(!g_created || index == g_device, "cuda", "cannot switch to GPU ", index, ": GPU ", g_device,
              " is already in use by this process");
  g_device = index;
  CUDA_CHECK(cudaSetDevice(index));
}

cudaStream_t stream() { return context().stream; }
cublasHandle_t cublas() { return context().cublas; }
cudnnHandle_t cudnn() { return context().cudnn; }
int sm_count() { return context().sm_count; }
void synchronize_stream() { CUDA_CHECK(cudaStreamSynchronize(stream())); }

void* workspace(size_t bytes) {
  Context& c = context();
  std::lock_guard<std::mutex> lock(c.workspace_mutex);
  if (bytes > c.workspace_bytes) {
    // The old block goes back to the caching allocator; stream ordering makes that safe.
    if (c.workspace) cuda::free(c.workspace);
    c.workspace = nullptr;
    c.workspace_bytes = 0;
    c.workspace = cuda::malloc(bytes);
    c.workspace_bytes = bytes;
  }
  return c.workspace;
}

}  // namespace graft::cuda
