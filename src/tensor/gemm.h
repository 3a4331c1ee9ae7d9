// src/tensor/gemm.h — general matrix multiply, the workhorse of Linear and im2col convolution.
//
//   C[M,N] = alpha * op(A) * op(B) + beta * C,   op(X) = X or X^T,   all row-major.
//
// A is [M,K] (or [K,M] when trans_a), B is [K,N] (or [N,K] when trans_b). The CPU path maps
// the buffers into Eigen matrices (Eigen blocks, packs and vectorizes, threads with OpenMP;
// compiled per instruction set and picked at run time, see gemm_variants.h);
// the CUDA path calls cuBLAS (gemm_cublas.cpp), which is column-major, so it computes
// C^T = op(B)^T op(A)^T instead.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace graft {

void gemm(Device device, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, const float* B, float beta, float* C);

namespace cuda {
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          const float* B, float beta, float* C);

// TF32 tensor-core math for float32 GEMMs (cuBLAS) and convolutions (cuDNN). Off by default:
// TF32 keeps only 10 mantissa bits, so results differ from PyTorch's float32 reference by
// ~1e-3 relative. Turning it on is ~several times faster on A100/H100 (like PyTorch's
// torch.backends.cuda.matmul.allow_tf32 + torch.backends.cudnn.allow_tf32). Takes effect for
// calls made after it; cuDNN algorithm choices are cached per setting.
void set_allow_tf32(bool on);
bool allow_tf32();
}

}  // namespace graft
