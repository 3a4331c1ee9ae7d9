// tools/lib/onnx_export.h — `graft export --onnx`: a model as an ONNX file (opset 13), written
// by hand: ONNX is protobuf, and the few messages a feed-forward network needs (ModelProto,
// GraphProto, NodeProto, TensorProto, ...) take a small encoder (tag = field << 3 | wire type,
// varints, length-prefixed bytes; onnx.proto has the field numbers).
//
// What exports: chains of layers (spec models, heads, a Sequential of them) and ResNet18 (its
// BasicBlocks' skip connections become Add nodes), any head included, one ONNX node per layer:
// Conv, BatchNormalization, Relu, Sigmoid, MaxPool, AveragePool, GlobalAveragePool
// (AdaptiveAvgPool2d to 1x1, or AveragePool when the sizes divide), Flatten, Gemm (Linear,
// transB=1), Softmax/LogSoftmax (axis 1), Identity (and Dropout, which is one at inference).
// The tensors are the state_dict's, under its names. VGG16 and DenseNet121 (its
// concatenations) are not exported yet: the error names the module it stopped at.
#pragma once

#include <string>

#include "layers/module.h"
#include "tensor/tensor.h"

namespace graft::tools {

// The ONNX bytes of `model` in eval mode for inputs [N, input_shape...] (N free: "batch").
// Throws naming the first module it cannot export and its type.
std::string onnx_model_bytes(Module& model, const Shape& input_shape, const std::string& graph_name = "graft");

}  // namespace graft::tools
