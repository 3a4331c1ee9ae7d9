// tools/lib/onnx_export.h — `graft export --onnx`: a model as an ONNX file (opset 13), written
// by hand: ONNX is protobuf, and the few messages a feed-forward network needs (ModelProto,
// GraphProto, NodeProto, TensorProto, ...) take a small encoder (tag = field << 3 | wire type,
// varints, length-prefixed bytes; onnx.proto has the field numbers).
//
// What exports: chains of layers (spec models, heads, a Sequential of them) and the three
// architectures, any head included: ResNet18 (its BasicBlocks' skip connections become Add
// nodes), VGG16, DenseNet121 (each dense layer reads a Concat of the features before it).
// One ONNX node per layer: Conv, BatchNormalization, Relu, Sigmoid, MaxPool, AveragePool
// (count_include_pad as the layer's; DenseNet's transitions pad nothing, so it does not matter
// there), Flatten, Gemm (Linear, transB=1), Softmax/LogSoftmax (axis 1), Identity (and Dropout,
// which is one at inference). AdaptiveAvgPool2d becomes GlobalAveragePool (1x1), Identity (same
// size: VGG16's 7x7 on 224x224 inputs), AveragePool (the sizes divide) or, otherwise,
// Reshape-Gemm-Reshape with a constant matrix of the bins' weights: exact for the exported input
// size (onnx_export.cpp, emit_adaptive_avg_pool). The input size is fixed, the batch is free.
// The tensors are the state_dict's, under its names. A module of another kind (a custom
// branching module) is refused: the error names it and its type.
#pragma once

#include <string>

#include "layers/module.h"
#include "tensor/tensor.h"

namespace graft::tools {

// The ONNX bytes of `model` in eval mode for inputs [N, input_shape...] (N free: "batch").
// Throws naming the first module it cannot export and its type.
std::string onnx_model_bytes(Module& model, const Shape& input_shape, const std::string& graph_name = "graft");

}  // namespace graft::tools
