// src/tensor/gemm_avx512.cpp — the Eigen GEMM compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx2 -mfma (see meson.build), only called when the CPU reports all of them. Eigen's
// namespace is renamed as in gemm_avx2.cpp.
#include "tensor/gemm_variants.h"

#define Eigen graft_eigen_avx512
#define GRAFT_GEMM_FN gemm_avx512
#include "tensor/gemm_eigen.inc"
