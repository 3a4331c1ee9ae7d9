// src/tensor/gemm_cublas.cpp — the CUDA entry of the GEMM table, on cuBLAS (see gemm.h).
//
// graft is row-major, cuBLAS is column-major. A row-major [M,N] matrix is, byte for byte, the
// column-major [N,M] matrix of its transpose. So instead of C = op(A) op(B) we ask cuBLAS for
//   C^T[N,M] = op(B)^T[N,K] * op(A)^T[K,M]
// passing B first and A second with the same transpose flags; the leading dimensions are the
// row lengths of the row-major buffers: lda = trans_a ? M : K, ldb = trans_b ? K : N, ldc = N.
//
// TF32: cublasGemmEx with CUBLAS_COMPUTE_32F is strict float32 (no tensor-core TF32);
// CUBLAS_COMPUTE_32F_FAST_TF32 is used only after set_allow_tf32(true) (device.h).
#include <climits>
#include <stdexcept>
#include <string>

#include "tensor/check.h"
#include "tensor/cuda_context.h"
#include "tensor/device.h"
#include "tensor/gemm.h"

namespace graft::cuda {

namespace {

void gemm_cublas(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 const float* B, float beta, float* C) {
  GRAFT_CHECK(M <= INT_MAX && N <= INT_MAX && K <= INT_MAX, "gemm (cuBLAS)", "sizes M=", M, " N=", N, " K=", K,
              " exceed cuBLAS's 32-bit limit; use a smaller batch");
  const int m = static_cast<int>(N), n = static_cast<int>(M), k = static_cast<int>(K);
  const int lda = static_cast<int>(trans_a ? M : K), ldb = static_cast<int>(trans_b ? K : N), ldc = m;
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasComputeType_t compute = allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  // cuBLAS requires ld >= 1 even when K == 0 (then C = beta*C).
  CUBLAS_CHECK(cublasGemmEx(cublas(), op_b, op_a, m, n, k, &alpha, B, CUDA_R_32F, ldb > 0 ? ldb : 1, A,
                            CUDA_R_32F, lda > 0 ? lda : 1, &beta, C, CUDA_R_32F, ldc, compute,
                            CUBLAS_GEMM_DEFAULT));
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::gemm, CUDA, "cublas", gemm_cublas);

}  // namespace graft::cuda
