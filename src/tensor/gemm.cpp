// src/tensor/gemm.cpp — CPU GEMM through Eigen, and the one device dispatch (see gemm.h).
#include "tensor/gemm.h"

#include <Eigen/Core>

namespace graft {

namespace {
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMat>;
using Map = Eigen::Map<RowMat>;

template <class LHS, class RHS>
void assign(Map& c, const LHS& a, const RHS& b, float alpha, float beta) {
  // noalias(): C never overlaps A or B, so Eigen can write the product straight into C.
  if (beta == 0.0f) {
    if (alpha == 1.0f) c.noalias() = a * b;
    else c.noalias() = alpha * (a * b);
  } else {
    if (beta != 1.0f) c *= beta;
    if (alpha == 1.0f) c.noalias() += a * b;
    else c.noalias() += alpha * (a * b);
  }
}
}  // namespace

void gemm(Device device, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, const float* B, float beta, float* C) {
  if (device == Device::CUDA) return cuda::gemm(trans_a, trans_b, M, N, K, alpha, A, B, beta, C);
  if (M == 0 || N == 0) return;
  Map c(C, M, N);
  if (K == 0) {
    if (beta == 0.0f) c.setZero();
    else c *= beta;
    return;
  }
  ConstMap a(A, trans_a ? K : M, trans_a ? M : K);
  ConstMap b(B, trans_b ? N : K, trans_b ? K : N);
  if (!trans_a && !trans_b) assign(c, a, b, alpha, beta);
  else if (trans_a && !trans_b) assign(c, a.transpose(), b, alpha, beta);
  else if (!trans_a && trans_b) assign(c, a, b.transpose(), alpha, beta);
  else assign(c, a.transpose(), b.transpose(), alpha, beta);
}

}  // namespace graft
