// src/tensor/gemm.h — general matrix multiply, the workhorse of Linear and im2col convolution.
//
//   C[M,N] = alpha * op(A) * op(B) + beta * C,   op(X) = X or X^T,   all row-major.
//
// A is [M,K] (or [K,M] when trans_a), B is [K,N] (or [N,K] when trans_b). The kernel table has
// BLAS's pointer signature rather than the Tensor one of the other kernels (dispatch.h),
// because the CPU convolution multiplies slices of its scratch buffers, not whole tensors.
// Entries:
//   cpu  eigen       Eigen with the build's flags (SSE2 on a plain x86-64 build): the reference
//        eigen_avx2  the same Eigen code compiled with -mavx2 -mfma        (gemm_eigen_avx2.cpp)
//        avx2        graft's own GEMM with an AVX2+FMA micro-kernel        (gemm_avx2.cpp)
//        avx512      graft's own GEMM with an AVX-512 micro-kernel         (gemm_avx512.cpp)
//        (the last two: packed, or for M <= 32 streaming B; see gemm_packed.inc)
//        the widest one the CPU runs is chosen; GRAFT_KERNELS=gemm=avx2 forces one.
//   cuda cublas      column-major cuBLAS computing C^T = op(B)^T op(A)^T    (gemm_cublas.cpp)
// The convolution's "implicit GEMM", whose B is a column matrix read from the images instead of
// a dense array, is gemm_image.h (avx2 and avx512 only).
#pragma once

#include <cstdint>

#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace graft {

namespace kernels {
GRAFT_DECLARE_KERNEL(gemm, void(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                                const float* A, const float* B, float beta, float* C));
}  // namespace kernels

// The pointers are on `device`. M == 0 or N == 0 does nothing; K == 0 gives C = beta * C.
void gemm(Device device, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          const float* B, float beta, float* C);

}  // namespace graft
