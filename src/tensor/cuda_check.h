// src/tensor/cuda_check.h — one error vocabulary for CUDA, cuBLAS and cuDNN calls.
//
//   CUDA_CHECK(cudaMemcpyAsync(...));     CUBLAS_CHECK(cublasGemmEx(...));
//   CUDNN_CHECK(cudnnConvolutionForward(...));   CUDA_CHECK_LAUNCH("relu_forward");
//
// Each macro throws std::runtime_error naming the failed call, the library's own error text,
// and the file and line, so a failure inside a training step points at the exact call.
// Kernel launches are asynchronous: CUDA_CHECK_LAUNCH only catches launch errors (bad grid,
// missing kernel image for this GPU); an error inside a kernel surfaces at the next
// synchronizing call. Run under compute-sanitizer to find such a kernel.
// Internal header: only files of the CUDA build include it (it pulls in the CUDA headers).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

namespace graft::cuda {
[[noreturn]] void throw_cuda_error(const char* lib, const char* call, const char* what, const char* file, int line);
const char* cublas_error_string(cublasStatus_t s);
}  // namespace graft::cuda

// Calls `call`; unless it returned `ok`, throws with `lib`'s text for the status (to_text).
#define GRAFT_GPU_CHECK(lib, call, ok, to_text)                                                   \
  do {                                                                                             \
    const auto graft_status_ = (call);                                                             \
    if (graft_status_ != (ok))                                                                     \
      ::graft::cuda::throw_cuda_error(lib, #call, to_text(graft_status_), __FILE__, __LINE__);     \
  } while (0)
#define CUDA_CHECK(call) GRAFT_GPU_CHECK("CUDA", call, cudaSuccess, cudaGetErrorString)
#define CUBLAS_CHECK(call) GRAFT_GPU_CHECK("cuBLAS", call, CUBLAS_STATUS_SUCCESS, ::graft::cuda::cublas_error_string)
#define CUDNN_CHECK(call) GRAFT_GPU_CHECK("cuDNN", call, CUDNN_STATUS_SUCCESS, cudnnGetErrorString)

// After a <<<...>>> launch: reports launch failures with the kernel's name.
#define CUDA_CHECK_LAUNCH(name)                                                                    \
  do {                                                                                             \
    cudaError_t graft_err_ = cudaGetLastError();                                                   \
    if (graft_err_ != cudaSuccess)                                                                 \
      ::graft::cuda::throw_cuda_error("CUDA", "launch of " name, cudaGetErrorString(graft_err_),    \
                                      __FILE__, __LINE__);                                         \
  } while (0)
