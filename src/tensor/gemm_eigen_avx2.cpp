// src/tensor/gemm_eigen_avx2.cpp — the Eigen GEMM compiled with -mavx2 -mfma (see meson.build),
// only called when the CPU reports both. Eigen's namespace is renamed so that none of its
// template instantiations (compiled for AVX2 here) can be merged with the baseline ones by the
// linker.
#include "tensor/gemm_variants.h"

#define Eigen graft_eigen_avx2
#define GRAFT_GEMM_FN gemm_eigen_avx2
#include "tensor/gemm_eigen.inc"
