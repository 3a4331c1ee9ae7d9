// src/layers/pool2d.cu — max and average pooling on the GPU with graft's own kernels (pool2d.h).
//
//   window (p,q) of plane (n,c): rows p*sh - ph .. + kh-1, columns q*sw - pw .. + kw-1,
//   clipped to the input; avg divides by the window area clipped to the PADDED input
//   (count_include_pad) or by the number of real pixels.
//   max forward:  y = max over the window (first maximum wins ties, NaN wins) — as pool2d.cpp
//   max backward: gx[argmax of window (p,q)] += gy[p,q]; the argmax is recomputed from x
//   avg forward:  y = sum(window) / count
//   avg backward: gx[h,w] = sum over the windows that contain (h,w) of gy / count
//
// Why own kernels and not cuDNN pooling: cuDNN's legacy pooling has symmetric padding only and
// computes its own output size, so PyTorch's ceil_mode (an extra, partial window at the bottom/
// right whose average divisor is clipped to the padded input) would need asymmetric tricks that
// still give the wrong divisor; and cuDNN's max backward does not promise PyTorch's tie rule.
// PyTorch itself uses its own CUDA kernels for both poolings for the same reasons. These loops
// are the CPU loops of pool2d.cpp with one thread per output (forward) or per input pixel (avg
// backward), in the same summation order, so the results are bit-identical to the CPU.
// Max backward scatters with atomicAdd: overlapping windows (3x3 stride 2) may send two
// gradients to one pixel, added in either order (differences of 1 ulp, ~1e-7 relative).
#include "layers/pool2d.h"
#include "tensor/cuda_launch.cuh"

namespace graft::cuda {
namespace {

// The sizes a kernel needs, passed by value: input H x W, output P x Q, kernel, stride, padding.
struct PoolGeometry {
  int64_t H, W, P, Q, kh, kw, sh, sw, ph, pw;
  bool count_include_pad;
};

// x: [N,C,H,W] (or the gradient gx), y: [N,C,P,Q] (or gy).
PoolGeometry geometry(const Tensor& x, const Tensor& y, const Pool2dParams& p) {
  return {x.size(2), x.size(3), y.size(2), y.size(3), p.kernel_h, p.kernel_w, p.stride_h,
          p.stride_w, p.pad_h,  p.pad_w,  p.count_include_pad};
}

struct PoolWindow {
  int64_t h0, h1, w0, w1, count;
};

__device__ inline PoolWindow window(int64_t oh, int64_t ow, const PoolGeometry& g) {
  int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
  int64_t h1 = min(h0 + g.kh, g.H + g.ph), w1 = min(w0 + g.kw, g.W + g.pw);
  const int64_t padded_area = (h1 - h0) * (w1 - w0);
  h0 = max(h0, int64_t(0)), w0 = max(w0, int64_t(0));
  h1 = min(h1, g.H), w1 = min(w1, g.W);
  return {h0, h1, w0, w1, g.count_include_pad ? padded_area : (h1 - h0) * (w1 - w0)};
}

// Flat index h*W+w (within the plane) of the window's winner: first maximum, NaN wins.
__device__ inline int64_t window_argmax(const float* in, const PoolWindow& win, int64_t W, float* best_out) {
  float best = -INFINITY;
  int64_t best_i = win.h0 * W + win.w0;
  for (int64_t h = win.h0; h < win.h1; ++h)
    for (int64_t w = win.w0; w < win.w1; ++w) {
      const float v = in[h * W + w];
      if (v > best || isnan(v)) {
        best = v;
        best_i = h * W + w;
      }
    }
  *best_out = best;
  return best_i;
}

// ---- kernels: one thread per output element (n,c,p,q) -------------------------------------------

__global__ void max_pool2d_forward_kernel(const float* x, float* y, int64_t total, PoolGeometry g) {
  CUDA_KERNEL_LOOP(o, total) {
    const int64_t ow = o % g.Q, oh = (o / g.Q) % g.P, plane = o / (g.P * g.Q);
    float best;
    window_argmax(x + plane * g.H * g.W, window(oh, ow, g), g.W, &best);
    y[o] = best;
  }
}

__global__ void max_pool2d_backward_kernel(const float* x, const float* gy, float* gx, int64_t total, PoolGeometry g) {
  CUDA_KERNEL_LOOP(o, total) {
    const int64_t ow = o % g.Q, oh = (o / g.Q) % g.P, plane = o / (g.P * g.Q);
    float best;
    const int64_t i = window_argmax(x + plane * g.H * g.W, window(oh, ow, g), g.W, &best);
    atomicAdd(gx + plane * g.H * g.W + i, gy[o]);
  }
}

__global__ void avg_pool2d_forward_kernel(const float* x, float* y, int64_t total, PoolGeometry g) {
  CUDA_KERNEL_LOOP(o, total) {
    const int64_t ow = o % g.Q, oh = (o / g.Q) % g.P, plane = o / (g.P * g.Q);
    const float* in = x + plane * g.H * g.W;
    const PoolWindow win = window(oh, ow, g);
    float s = 0.0f;
    for (int64_t h = win.h0; h < win.h1; ++h)
      for (int64_t w = win.w0; w < win.w1; ++w) s += in[h * g.W + w];
    y[o] = s / static_cast<float>(win.count);
  }
}

// One thread per INPUT pixel: gather from the windows that cover it, in the CPU's (p,q) order.
__global__ void avg_pool2d_backward_kernel(const float* gy, float* gx, int64_t total, PoolGeometry g) {
  CUDA_KERNEL_LOOP(i, total) {
    const int64_t w = i % g.W, h = (i / g.W) % g.H, plane = i / (g.H * g.W);
    // Window p covers row h iff p*sh - ph <= h < p*sh - ph + kh.
    const int64_t p0 = h + g.ph < g.kh ? 0 : (h + g.ph - g.kh) / g.sh + 1, p1 = min((h + g.ph) / g.sh + 1, g.P);
    const int64_t q0 = w + g.pw < g.kw ? 0 : (w + g.pw - g.kw) / g.sw + 1, q1 = min((w + g.pw) / g.sw + 1, g.Q);
    const float* gplane = gy + plane * g.P * g.Q;
    float s = 0.0f;
    for (int64_t oh = p0; oh < p1; ++oh)
      for (int64_t ow = q0; ow < q1; ++ow) {
        const PoolWindow win = window(oh, ow, g);
        s += gplane[oh * g.Q + ow] / static_cast<float>(win.count);
      }
    gx[i] = s;
  }
}

// ---- launchers ----------------------------------------------------------------------------------

Tensor max_pool2d_forward_cuda(const Tensor& x, Tensor& y, const Pool2dParams& p, bool) {
  const int64_t total = y.numel();
  if (total == 0) return Tensor();
  max_pool2d_forward_kernel<<<grid_for(total), kThreads, 0, stream()>>>(x.data(), y.data(), total,
                                                                         geometry(x, y, p));
  CUDA_CHECK_LAUNCH("max_pool2d_forward_kernel");
  return Tensor();  // the backward finds the winners again in x
}

void max_pool2d_backward_cuda(const Tensor& x, const Tensor&, const Tensor& gy, Tensor& gx, const Pool2dParams& p) {
  CUDA_CHECK(cudaMemsetAsync(gx.data(), 0, gx.numel() * sizeof(float), stream()));
  const int64_t total = gy.numel();
  if (total == 0) return;
  max_pool2d_backward_kernel<<<grid_for(total), kThreads, 0, stream()>>>(x.data(), gy.data(), gx.data(), total,
                                                                          geometry(x, gy, p));
  CUDA_CHECK_LAUNCH("max_pool2d_backward_kernel");
}

void avg_pool2d_forward_cuda(const Tensor& x, Tensor& y, const Pool2dParams& p) {
  CUDA_LAUNCH_OVER(y.numel(), avg_pool2d_forward_kernel, x.data(), y.data(), y.numel(), geometry(x, y, p));
}

void avg_pool2d_backward_cuda(const Tensor& gy, Tensor& gx, const Pool2dParams& p) {
  CUDA_LAUNCH_OVER(gx.numel(), avg_pool2d_backward_kernel, gy.data(), gx.data(), gx.numel(), geometry(gx, gy, p));
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::max_pool2d_forward, CUDA, "cuda", max_pool2d_forward_cuda);
GRAFT_REGISTER_KERNEL(kernels::max_pool2d_backward, CUDA, "cuda", max_pool2d_backward_cuda);
GRAFT_REGISTER_KERNEL(kernels::avg_pool2d_forward, CUDA, "cuda", avg_pool2d_forward_cuda);
GRAFT_REGISTER_KERNEL(kernels::avg_pool2d_backward, CUDA, "cuda", avg_pool2d_backward_cuda);

}  // namespace graft::cuda
