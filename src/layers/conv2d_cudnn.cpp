// src/layers/conv2d_cudnn.cpp — Conv2d on cuDNN: forward, backward-data, backward-filter.
//
//   forward:         y[N,K,P,Q]  = x[N,C,H,W] (*) w[K,C,R,S]          cudnnConvolutionForward
//   backward-data:   gx[N,C,H,W] = gy (*)^T w                          cudnnConvolutionBackwardData
//   backward-filter: gw[K,C,R,S] = sum over n of gy_n (*) x_n          cudnnConvolutionBackwardFilter
// (*) is cross-correlation with the padding/stride/dilation of Conv2dParams; bias is separate
// (bias.h). Outputs are overwritten (beta = 0).
//
// Why the legacy API and not the graph (frontend/backend) API: graft needs exactly three fixed
// operations on NCHW float32 tensors, which the legacy calls express in one call each, with
// descriptors a student can read next to the math. The graph API shines for fusion (conv + bias +
// ReLU in one kernel) and for fp16/fp8 engines, but needs the C++ frontend (a separate
// header-only dependency) or several hundred lines of backend descriptor code per operation.
// The legacy calls are deprecated in cuDNN 9 but still shipped and supported in 9.x (they are
// what PyTorch's Conv_v7.cpp uses); moving to the graph API is a contained change to this file.
//
// Algorithm choice: for each (pass, shapes, params, TF32 setting) the first call benchmarks every
// algorithm with cudnnFind*AlgorithmEx on the real buffers (PyTorch's cudnn.benchmark=True) and
// caches the fastest one; later calls look it up. If Find yields nothing usable, the heuristic
// cudnnGet*Algorithm_v7 is asked instead. The workspace for running comes from cuda::workspace()
// (one buffer, grown to the largest need, then reused); Find's own temporary workspace is
// allocated outside the caching allocator and freed at once, so a one-off 1 GiB benchmark
// buffer does not stay reserved.
// TF32: without set_allow_tf32(true) the convolution descriptor uses CUDNN_FMA_MATH and only
// algorithms that ran in FMA math are accepted: true float32, as the CPU reference.
#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <mutex>
#include <string>

#include "layers/conv2d.h"
#include "layers/cudnn_descriptors.h"
#include "tensor/check.h"
#include "tensor/device.h"

namespace graft::cuda {

namespace {

enum class Pass { Forward = 0, BackwardData = 1, BackwardFilter = 2 };

struct AlgoChoice {
  int algo = 0;
  cudnnMathType_t math = CUDNN_FMA_MATH;
  size_t workspace = 0;
};

using Key = std::array<int64_t, 16>;

// `aligned`: whether all buffers are 16-byte aligned. Some algorithms need it, and a tensor
// sliced along the batch can start anywhere, so the choice is cached separately (as PyTorch).
Key make_key(Pass pass, const Shape& x, const Shape& w, const Conv2dParams& p, bool aligned) {
  return {static_cast<int64_t>(pass), x[0], x[1], x[2], x[3], w[0], w[2], w[3], p.pad_h, p.pad_w, p.stride_h,
          p.stride_w, p.dil_h, p.dil_w, allow_tf32() ? 1 : 0, aligned ? 1 : 0};
}

bool aligned16(std::initializer_list<const void*> ptrs) {
  for (const void* q : ptrs)
    if (reinterpret_cast<uintptr_t>(q) % 16 != 0) return false;
  return true;
}

std::mutex g_cache_mutex;
std::map<Key, AlgoChoice> g_cache;

// The descriptors of one convolution; the math type follows the TF32 switch.
struct ConvDescs {
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
  ConvDescs(const Shape& xs, const Tensor& wt, const Shape& ys, const Conv2dParams& p, const char* op)
      : x(xs[0], xs[1], xs[2], xs[3], op),
        y(ys[0], ys[1], ys[2], ys[3], op),
        w(wt, op),
        conv(p.pad_h, p.pad_w, p.stride_h, p.stride_w, p.dil_h, p.dil_w, op) {
    CUDNN_CHECK(cudnnSetConvolutionMathType(conv.d, allow_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
  }
};

// Without TF32, an algorithm that ran with tensor-op math would not be float32.
bool math_allowed(cudnnMathType_t m) {
  return allow_tf32() || (m != CUDNN_TENSOR_OP_MATH && m != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION);
}

// The first (fastest: cuDNN sorts them) result that ran successfully with an allowed math type.
template <class Perf>
bool pick(const Perf* perf, int count, AlgoChoice& out) {
  for (int i = 0; i < count; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || !math_allowed(perf[i].mathType)) continue;
    out.algo = static_cast<int>(perf[i].algo);
    out.math = allow_tf32() ? perf[i].mathType : CUDNN_FMA_MATH;
    out.workspace = perf[i].memory;
    return true;
  }
  return false;
}

// A temporary device buffer for cudnnFind*Ex, outside the caching allocator. Tries `want`
// bytes (capped at 1 GiB), halving on failure: Find then skips algorithms that need more.
struct FindWorkspace {
  void* p = nullptr;
  size_t bytes = 0;
  explicit FindWorkspace(size_t want) {
    bytes = std::min<size_t>(want, size_t(1) << 30);
    bool emptied = false;
    while (bytes > 0 && cudaMalloc(&p, bytes) != cudaSuccess) {
      (void)cudaGetLastError();
      p = nullptr;
      if (!emptied) {  // first give the allocator's cached blocks back to the driver
        empty_cache(Device::CUDA);
        emptied = true;
      } else {
        bytes /= 2;
      }
    }
  }
  ~FindWorkspace() {
    if (p) (void)cudaFree(p);
  }
};

std::string describe(const char* op, const Shape& x, const Shape& w, const Conv2dParams& p) {
  return std::string(op) + " (input " + shape_str(x) + ", weight " + shape_str(w) + ", stride (" +
         std::to_string(p.stride_h) + ", " + std::to_string(p.stride_w) + "), padding (" + std::to_string(p.pad_h) +
         ", " + std::to_string(p.pad_w) + "), dilation (" + std::to_string(p.dil_h) + ", " +
         std::to_string(p.dil_w) + "))";
}

// Looks the choice up, or benchmarks the algorithms of `pass` with the real buffers and caches
// the winner. x/w/y: input, filter and output of the FORWARD convolution (for backward passes,
// y is gy and the pointers of the tensor being computed are the Find output).
AlgoChoice choose(Pass pass, ConvDescs& d, const Shape& xs, const Tensor& w, const Conv2dParams& p, const void* x_in,
                  void* x_out, const void* w_in, void* w_out, const void* y_in, void* y_out, const char* op) {
  const Key key = make_key(pass, xs, w.shape(), p, aligned16({x_in, x_out, w_in, w_out, y_in, y_out}));
  {
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    auto it = g_cache.find(key);
    if (it != g_cache.end()) return it->second;
  }
  cudnnHandle_t h = cudnn();
  AlgoChoice c;
  bool found = false;
  int returned = 0;
  if (pass == Pass::Forward) {
    size_t need = 0;
    for (int a = 0; a < CUDNN_CONVOLUTION_FWD_ALGO_COUNT; ++a) {
      size_t s = 0;
      if (cudnnGetConvolutionForwardWorkspaceSize(h, d.x.d, d.w.d, d.conv.d, d.y.d,
                                                  static_cast<cudnnConvolutionFwdAlgo_t>(a), &s) == CUDNN_STATUS_SUCCESS)
        need = std::max(need, s);
    }
    FindWorkspace ws(need);
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    if (cudnnFindConvolutionForwardAlgorithmEx(h, d.x.d, x_in, d.w.d, w_in, d.conv.d, d.y.d, y_out,
                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf, ws.p,
                                               ws.bytes) == CUDNN_STATUS_SUCCESS)
      found = pick(perf, returned, c);
    if (!found) {
      CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x.d, d.w.d, d.conv.d, d.y.d,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf));
      found = pick(perf, returned, c);
    }
  } else if (pass == Pass::BackwardData) {
    size_t need = 0;
    for (int a = 0; a < CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT; ++a) {
      size_t s = 0;
      if (cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w.d, d.y.d, d.conv.d, d.x.d,
                                                       static_cast<cudnnConvolutionBwdDataAlgo_t>(a),
                                                       &s) == CUDNN_STATUS_SUCCESS)
        need = std::max(need, s);
    }
    FindWorkspace ws(need);
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    if (cudnnFindConvolutionBackwardDataAlgorithmEx(h, d.w.d, w_in, d.y.d, y_in, d.conv.d, d.x.d, x_out,
                                                    CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned, perf, ws.p,
                                                    ws.bytes) == CUDNN_STATUS_SUCCESS)
      found = pick(perf, returned, c);
    if (!found) {
      CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w.d, d.y.d, d.conv.d, d.x.d,
                                                              CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned, perf));
      found = pick(perf, returned, c);
    }
  } else {
    size_t need = 0;
    for (int a = 0; a < CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT; ++a) {
      size_t s = 0;
      if (cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x.d, d.y.d, d.conv.d, d.w.d,
                                                         static_cast<cudnnConvolutionBwdFilterAlgo_t>(a),
                                                         &s) == CUDNN_STATUS_SUCCESS)
        need = std::max(need, s);
    }
    FindWorkspace ws(need);
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    if (cudnnFindConvolutionBackwardFilterAlgorithmEx(h, d.x.d, x_in, d.y.d, y_in, d.conv.d, d.w.d, w_out,
                                                      CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &returned, perf, ws.p,
                                                      ws.bytes) == CUDNN_STATUS_SUCCESS)
      found = pick(perf, returned, c);
    if (!found) {
      CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
          h, d.x.d, d.y.d, d.conv.d, d.w.d, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &returned, perf));
      found = pick(perf, returned, c);
    }
  }
  GRAFT_CHECK_DATA(found, "", "cuDNN has no usable algorithm for ", describe(op, xs, w.shape(), p),
                   allow_tf32() ? "" : " in strict float32 (FMA) math; try set_allow_tf32(true)");
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  g_cache[key] = c;
  return c;
}

// The output shape cuDNN computes must be the one the caller allocated.
void check_output(ConvDescs& d, const Shape& xs, const Tensor& w, const Shape& ys, const Conv2dParams& p,
                  const char* op) {
  int n = 0, k = 0, pp = 0, q = 0;
  CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(d.conv.d, d.x.d, d.w.d, &n, &k, &pp, &q));
  const Shape computed{n, k, pp, q};
  GRAFT_ASSERT(computed == ys, "", describe(op, xs, w.shape(), p), ": output buffer has shape ", ys,
               " but cuDNN computes ", computed);
}

void forward_cudnn(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p) {
  if (y.numel() == 0) return;
  ConvDescs d(x.shape(), w, y.shape(), p, "conv2d_forward");
  check_output(d, x.shape(), w, y.shape(), p, "conv2d_forward");
  const AlgoChoice c = choose(Pass::Forward, d, x.shape(), w, p, x.data(), nullptr, w.data(), nullptr, nullptr,
                              y.data(), "conv2d_forward");
  CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, c.math));
  const float alpha = 1.0f, beta = 0.0f;
  void* ws = c.workspace ? workspace(c.workspace) : nullptr;
  CUDNN_CHECK(cudnnConvolutionForward(cudnn(), &alpha, d.x.d, x.data(), d.w.d, w.data(), d.conv.d,
                                      static_cast<cudnnConvolutionFwdAlgo_t>(c.algo), ws, c.workspace, &beta, d.y.d,
                                      y.data()));
}

void backward_input_cudnn(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p) {
  if (gx.numel() == 0) return;
  if (gy.numel() == 0 || w.numel() == 0) {  // nothing flows back: the gradient is zero
    CUDA_CHECK(cudaMemsetAsync(gx.data(), 0, gx.numel() * sizeof(float), stream()));
    return;
  }
  ConvDescs d(gx.shape(), w, gy.shape(), p, "conv2d_backward_input");
  check_output(d, gx.shape(), w, gy.shape(), p, "conv2d_backward_input");
  const AlgoChoice c = choose(Pass::BackwardData, d, gx.shape(), w, p, nullptr, gx.data(), w.data(), nullptr,
                              gy.data(), nullptr, "conv2d_backward_input");
  CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, c.math));
  const float alpha = 1.0f, beta = 0.0f;
  void* ws = c.workspace ? workspace(c.workspace) : nullptr;
  CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn(), &alpha, d.w.d, w.data(), d.y.d, gy.data(), d.conv.d,
                                           static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo), ws, c.workspace,
                                           &beta, d.x.d, gx.data()));
}

void backward_weight_cudnn(const Tensor& gy, const Tensor& x, Tensor& gw, const Conv2dParams& p) {
  if (gw.numel() == 0) return;
  if (gy.numel() == 0 || x.numel() == 0) {  // an empty batch contributes no gradient
    CUDA_CHECK(cudaMemsetAsync(gw.data(), 0, gw.numel() * sizeof(float), stream()));
    return;
  }
  ConvDescs d(x.shape(), gw, gy.shape(), p, "conv2d_backward_weight");
  check_output(d, x.shape(), gw, gy.shape(), p, "conv2d_backward_weight");
  const AlgoChoice c = choose(Pass::BackwardFilter, d, x.shape(), gw, p, x.data(), nullptr, nullptr, gw.data(),
                              gy.data(), nullptr, "conv2d_backward_weight");
  CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, c.math));
  const float alpha = 1.0f, beta = 0.0f;
  void* ws = c.workspace ? workspace(c.workspace) : nullptr;
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(cudnn(), &alpha, d.x.d, x.data(), d.y.d, gy.data(), d.conv.d,
                                             static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo), ws, c.workspace,
                                             &beta, d.w.d, gw.data()));
}

}  // namespace

GRAFT_REGISTER_KERNEL(kernels::conv2d_forward, CUDA, "cudnn", forward_cudnn);
GRAFT_REGISTER_KERNEL(kernels::conv2d_backward_input, CUDA, "cudnn", backward_input_cudnn);
GRAFT_REGISTER_KERNEL(kernels::conv2d_backward_weight, CUDA, "cudnn", backward_weight_cudnn);

}  // namespace graft::cuda
