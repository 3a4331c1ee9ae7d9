// src/layers/conv2d_cpu.h — what the CPU convolution kernels share (conv2d_cpu.cpp, the
// reference, and conv2d_cpu_batched.cpp, the fast path): the sizes of one convolution and the
// im2col / col2im unrolling. Internal to the CPU kernels.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "layers/conv2d.h"
#include "tensor/gemm_image.h"

namespace graft::conv2d_cpu {

// Sizes of one convolution, read from x: [N,C,H,W] and w: [K,C,R,S].
struct ConvGeometry {
  int64_t N, C, H, W, K, R, S, P, Q;
  Conv2dParams p;
  int64_t rows() const { return C * R * S; }  // rows of the column matrix
  int64_t cols() const { return P * Q; }      // columns of the column matrix
  bool pointwise() const {  // x_n [C,H*W] already is the column matrix
    return R == 1 && S == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0;
  }
};

// x: [N,C,H,W], w: [K,C,R,S]; P, Q as conv2d_output_shape (conv2d.h).
ConvGeometry geometry(const Shape& x, const Shape& w, const Conv2dParams& p);

// x: [C,H,W] (one image) -> cols: [C*R*S, P*Q]; zero where a tap falls in the padding.
// ld: the distance between rows of cols (P*Q, or more when several images share the matrix).
void im2col(const float* x, float* cols, const ConvGeometry& g, int64_t ld);
// cols: [C*R*S, P*Q] -> x: [C,H,W] (one image): x zeroed, then every entry added back to the
// pixel im2col copied it from (pixels seen by several taps sum).
void col2im(const float* cols, float* x, const ConvGeometry& g, int64_t ld);

// The column matrix [C*R*S, G*P*Q] of G images as index tables (tensor/gemm_image.h), for a GEMM
// that reads it from the input without writing it. Built once per convolution call.
struct ImageColumnIndex {
  std::vector<int32_t> tap_offset, tap_h, tap_w;        // C*R*S entries, padded (gemm_image.h)
  std::vector<int32_t> pixel_offset, pixel_h, pixel_w;  // G*P*Q entries, padded
  int32_t H = 0, W = 0;
  int64_t taps = 0, pixels_per_image = 0;
  // The matrix of gn <= G images starting at x_group: [gn, C, H, W].
  ImageColumns of(const float* x_group, int64_t gn) const;
};
ImageColumnIndex image_column_index(const ConvGeometry& g, int64_t G);
// Whether G images' offsets fit the tables' int32.
bool image_columns_fit(const ConvGeometry& g, int64_t G);

// The reference kernels (conv2d_cpu.cpp): one image at a time, the GEMM threaded by itself.
void forward_reference(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p);
void backward_input_reference(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p);
void backward_weight_reference(const Tensor& gy, const Tensor& x, Tensor& gw, const Conv2dParams& p);

}  // namespace graft::conv2d_cpu
