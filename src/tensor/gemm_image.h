// src/tensor/gemm_image.h — "implicit GEMM": a product with a convolution's column matrix that
// is never written.
//
// im2col (layers/conv2d_cpu.h) copies the input into a column matrix cols [C*R*S, G*P*Q], and a
// GEMM then copies cols again, into its packed panels. Here the GEMM packs its B panels straight
// from the input: element (t, u) of cols — tap t = (c,r,s), pixel u = (image i, p, q) — is
//   x[tap.offset[t] + pixel.offset[u]]   if 0 <= tap.h[t] + pixel.h[u] < H
//                                        and 0 <= tap.w[t] + pixel.w[u] < W,   else 0 (padding)
// with, for the convolution (stride, pad, dilation):
//   tap t = (c,r,s):      offset c*H*W + r*dil_h*W + s*dil_w,   h r*dil_h,              w s*dil_w
//   pixel u = (i,p,q):    offset i*C*H*W + h*W + w,             h p*stride_h - pad_h,   w q*stride_w - pad_w
// so one addition gives the address and two give the row and column read, whatever the shape
// (strided, dilated, padded, pointwise, several images side by side).
//
// Only graft's own packed kernels (gemm_packed.inc: avx2, avx512) read such a matrix; with
// another GEMM selected (Eigen) gemm_reads_image_columns() is false and the convolution builds
// cols as before. Both uses of the convolution multiply by it from the right:
//   forward          y [K, G*PQ]  = w [K, CRS]   * cols        (trans_b false)
//   weight gradient  dw [K, CRS]  = dy [K, G*PQ] * cols^T      (trans_b true)
// The product is the packed path's with the same packed panels, so the result is bit for bit
// that of im2col + the same kernel's packed path.
#pragma once

#include <cstdint>

namespace graft {

// One index of the column matrix (its taps or its pixels): three int32 arrays, each padded with
// zeros to a multiple of 32 entries (a packed panel reads whole NR-wide vectors of them).
struct ImageAxis {
  const int32_t* offset;  // added to the input pointer
  const int32_t* h;       // added to the other index's h: the input row read
  const int32_t* w;       // the same for the input column
};

// The column matrix [taps, pixels] of a group of images (see the top of the file). The offsets
// are int32: the convolution uses this only while the group's input has < 2^31 elements.
struct ImageColumns {
  const float* x;        // the group's first image: x [G, C, H, W]
  int32_t H, W;          // the input's height and width
  int64_t taps, pixels;  // rows (C*R*S) and columns (G*P*Q) of the matrix
  ImageAxis tap, pixel;

  // Element (t, u) by the definition: the reference the kernels are tested against. Defined in
  // gemm_cpu.cpp, not inline here: this header is included by the AVX files, and an inline copy
  // compiled there could be the one the linker keeps (gemm_variants.h, ODR).
  float at(int64_t t, int64_t u) const;
};

// C[M,N] = alpha * A * op(cols) + beta * C, A: [M,K] row-major, op(cols) = cols [K=taps, N=pixels]
// or, trans_b, cols^T [K=pixels, N=taps]. Runs the packed path of the GEMM variant selected
// now; call it only when gemm_reads_image_columns().
void gemm_image_columns(bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                        const ImageColumns& B, float beta, float* C);
// Whether the GEMM variant selected now (GRAFT_KERNELS=gemm=...) can read an ImageColumns.
bool gemm_reads_image_columns();

}  // namespace graft
