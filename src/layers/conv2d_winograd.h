// src/layers/conv2d_winograd.h — Winograd F(m x m, 3x3) convolutions (conv2d_winograd.cpp), for
// the tests: these run Winograd whatever the sizes and autograd state (the registered kernel
// variants "winograd" / "winograd4" choose it only when it applies and wins).
#pragma once

#include "layers/conv2d.h"

namespace graft::conv2d_cpu {

// m = 2 (F(2x2,3x3)) or 4 (F(4x4,3x3)). x: [N,C,H,W], w: [K,C,3,3], stride 1, dilation 1,
// any padding -> y: [N,K,P,Q].
template <int m>
void winograd_forward(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p);
// gy: [N,K,P,Q], w: [K,C,3,3] -> gx: [N,C,H,W]; padding at most 2 (dx is then a convolution
// of dy with padding 2-p).
template <int m>
void winograd_backward_input(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p);

// The smallest output (min of P, Q) on which the "winograd4" variant uses F(4x4,3x3) rather than
// F(2x2,3x3): 20 by default (measured); the tests lower it to run F(4,3) on small models.
// A negative size restores the default.
void set_winograd_f4_min_size(int64_t size);
int64_t winograd_f4_min_size();

}  // namespace graft::conv2d_cpu
