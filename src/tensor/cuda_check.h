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

#define CUDA_CHECK(call)                                                                           \
  do {                                                                                             \
    cudaError_t graft_err_ = (call);                                                               \
    if (graft_err_ != cudaSuccess)                                                                 \
      ::graft::cuda::throw_cuda_error("CUDA", #call, cudaGetErrorString(graft_err_), __FILE__, __LINE__); \
  } while (0)

#define CUBLAS_CHECK(call)                                                                         \
  do {                                                                                             \
    cublasStatus_t graft_st_ = (call);                                                             \
    if (graft_st_ != CUBLAS_STATUS_SUCCESS)                                                        \
      ::graft::cuda::throw_cuda_error("cuBLAS", #call, ::graft::cuda::cublas_error_string(graft_st_), \
                                      __FILE__, __LINE__);                                         \
  } while (0)

#define CUDNN_CHECK(call)                                                                          \
  do {                                                                                             \
    cudnnStatus_t graft_st_ = (call);                                                              \
    if (graft_st_ != CUDNN_STATUS_SUCCESS)                                                         \
      ::graft::cuda::throw_cuda_error("cuDNN", #call, cudnnGetErrorString(graft_st_), __FILE__, __LINE__); \
  } while (0)

// After a <<<...>>> launch: reports launch failures with the kernel's name.
#define CUDA_CHECK_LAUNCH(name)                                                                    \
  do {                                                                                             \
    cudaError_t graft_err_ = cudaGetLastError();                                                   \
    if (graft_err_ != cudaSuccess)                                                                 \
      ::graft::cuda::throw_cuda_error("CUDA", "launch of " name, cudaGetErrorString(graft_err_),    \
                                      __FILE__, __LINE__);                                         \
  } while (0)
