// src/layers/cudnn_descriptors.h — RAII wrappers for the cuDNN descriptors graft uses.
//
// cuDNN describes every tensor by a descriptor object that must be created and destroyed; these
// wrappers do both, so a throwing CUDNN_CHECK leaks nothing. All graft tensors are contiguous
// NCHW float32. Internal header of the CUDA build (conv2d_cudnn.cpp, batch_norm2d_cudnn.cpp).
#pragma once

#include <climits>

#include "tensor/check.h"
#include "tensor/cuda_context.h"
#include "tensor/tensor.h"

namespace graft::cuda {

// cuDNN's legacy API takes int dimensions.
inline int to_int(int64_t v, const char* op) {
  GRAFT_CHECK(v >= 0 && v <= INT_MAX, op, "size ", v, " does not fit cuDNN's 32-bit dimensions; use a smaller batch");
  return static_cast<int>(v);
}

struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  TensorDesc(int64_t n, int64_t c, int64_t h, int64_t w, const char* op) {
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&d));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, to_int(n, op), to_int(c, op),
                                           to_int(h, op), to_int(w, op)));
  }
  // t: [N,C,H,W]
  TensorDesc(const Tensor& t, const char* op) : TensorDesc(t.size(0), t.size(1), t.size(2), t.size(3), op) {}
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
};

struct FilterDesc {
  cudnnFilterDescriptor_t d = nullptr;
  // w: [K,C,R,S]
  FilterDesc(const Tensor& w, const char* op) {
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&d));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(d, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, to_int(w.size(0), op),
                                           to_int(w.size(1), op), to_int(w.size(2), op), to_int(w.size(3), op)));
  }
  ~FilterDesc() { cudnnDestroyFilterDescriptor(d); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
};

struct ConvDesc {
  cudnnConvolutionDescriptor_t d = nullptr;
  ConvDesc(int64_t pad_h, int64_t pad_w, int64_t stride_h, int64_t stride_w, int64_t dil_h, int64_t dil_w,
           const char* op) {
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d));
    // CROSS_CORRELATION: PyTorch's "convolution" does not flip the kernel.
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(d, to_int(pad_h, op), to_int(pad_w, op), to_int(stride_h, op),
                                                to_int(stride_w, op), to_int(dil_h, op), to_int(dil_w, op),
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  }
  ~ConvDesc() { cudnnDestroyConvolutionDescriptor(d); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
};

}  // namespace graft::cuda
