// src/tensor/gemm_baseline.cpp — the portable Eigen GEMM (the build's own flags; SSE2 on a
// plain x86-64 build). The reference the wider variants are tested against.
#include "tensor/gemm_variants.h"

#define GRAFT_GEMM_FN gemm_baseline
#include "tensor/gemm_eigen.inc"
